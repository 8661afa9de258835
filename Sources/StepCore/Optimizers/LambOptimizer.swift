import StepJSON
import StepKernels

/// LAMB as optax.lamb: Adam's direction plus decoupled weight decay, scaled per tensor by the
/// trust ratio ||p|| / ||update||. The state keeps torch's Adam names (optax's mu and nu).
public enum LambOptimizer: OptimizerDescriptor {
    public struct Hyperparameters: OptimizerHyperparameters, Equatable {
        public var lr = 1e-3
        public var beta1 = 0.9, beta2 = 0.999
        public var eps = 1e-6
        public var epsRoot = 0.0
        public var weightDecay = 0.0

        public mutating func read(_ r: inout JSONObjectReader) throws(JSONFieldError) {
            try r.readLR(&lr)
            try r.readBetas(&beta1, &beta2)
            try r.readEps(&eps)
            try r.read("eps_root", &epsRoot, "a number >= 0") { $0 >= 0 }
            try r.readWeightDecay(&weightDecay)
        }

        public var json: JSONObject {
            JSONObject([("lr", .number(lr)), ("betas", JSONObject.pair(beta1, beta2)), ("eps", .number(eps)),
                        ("eps_root", .number(epsRoot)), ("weight_decay", .number(weightDecay))])
        }
    }

    public static let type = "lamb"
    public static let reference = "optax.lamb"
    public static let defaults = Hyperparameters()
    public static let stateTensors = [StateTensor<Hyperparameters>("exp_avg"), StateTensor("exp_avg_sq")]
    public static let inexactBecause = "square root, and XLA's float32 sums"

    public static func update(_ h: Hyperparameters, lr: Double, step: Int, scalars: inout [Double]) -> OptimizerUpdate {
        .tensor(.lamb(Lamb(lr: lr, beta1: h.beta1, beta2: h.beta2, eps: h.eps, epsRoot: h.epsRoot,
                           weightDecay: h.weightDecay, step: step)))
    }
}
