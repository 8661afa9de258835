import StepJSON
import StepKernels

/// A named set of hyperparameter overrides (torch's param_groups), e.g. `no_decay` with
/// `weight_decay: 0` for biases, norms and embeddings. Group 0 is the optimizer itself.
public struct ParamGroup: Sendable {
    public let name: String
    /// The overrides as the client wrote them, echoed back and re-applied on PATCH.
    public let overrides: JSONObject
    /// Of the session optimizer's `Hyperparameters` type.
    public let hyper: any OptimizerHyperparameters
    /// The group's `state_dtype`, or the optimizer's.
    public let stateDType: StateDType
}
