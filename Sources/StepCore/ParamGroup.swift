import StepJSON
import StepKernels

/// A named set of hyperparameter overrides (torch's param_groups), e.g. `no_decay` with
/// `weight_decay: 0` for biases, norms and embeddings. Group 0 is the optimizer itself. A group
/// with a `"type"` runs that optimizer instead, its fields defaulting to that optimizer's
/// defaults (Muon on the hidden matrices, AdamW on the rest, in one session).
public struct ParamGroup: Sendable {
    public let name: String
    /// The overrides as the client wrote them (`type` included), echoed back and re-applied on
    /// PATCH.
    public let overrides: JSONObject
    /// The optimizer this group runs: the session's, or its own `type`.
    public let kind: any OptimizerDescriptor.Type
    /// Of `kind`'s `Hyperparameters` type.
    public let hyper: any OptimizerHyperparameters
    /// The group's `state_dtype`, or the optimizer's.
    public let stateDType: StateDType
}
