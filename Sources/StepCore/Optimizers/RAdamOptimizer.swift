import StepJSON
import StepKernels

/// torch.optim.RAdam, with optional decoupled weight decay.
public enum RAdamOptimizer: LaneOptimizer {
    public struct Hyperparameters: OptimizerHyperparameters, Equatable {
        public var lr = 1e-3
        public var beta1 = 0.9, beta2 = 0.999
        public var eps = 1e-8
        public var weightDecay = 0.0
        public var decoupledWeightDecay = false
        public var maximize = false

        public mutating func read(_ r: inout JSONObjectReader) throws(JSONFieldError) {
            try r.readLR(&lr)
            try r.readBetas(&beta1, &beta2)
            try r.readEps(&eps)
            try r.readWeightDecay(&weightDecay)
            try r.read("decoupled_weight_decay", &decoupledWeightDecay)
            try r.read("maximize", &maximize)
        }

        public var json: JSONObject {
            JSONObject([("lr", .number(lr)), ("betas", JSONObject.pair(beta1, beta2)), ("eps", .number(eps)),
                        ("weight_decay", .number(weightDecay)), ("decoupled_weight_decay", .bool(decoupledWeightDecay)),
                        ("maximize", .bool(maximize))])
        }
    }

    public static let type = "radam"
    public static let reference = "torch.optim.RAdam"
    public static let defaults = Hyperparameters()
    public static let stateTensors = [StateTensor<Hyperparameters>("exp_avg", map: .signed), StateTensor("exp_avg_sq", map: .unsigned)]

    public static func rule(_ h: Hyperparameters, lr: Double, step: Int, scalars: inout [Double]) -> LaneRule {
        .rAdam(RAdam(lr: lr, beta1: h.beta1, beta2: h.beta2, eps: h.eps, weightDecay: h.weightDecay,
                     decoupled: h.decoupledWeightDecay, step: step))
    }
}
