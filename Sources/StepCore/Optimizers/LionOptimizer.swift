import StepJSON
import StepKernels

/// Lion, as lion-pytorch 0.2.5 computes it; bit for bit its result.
public enum LionOptimizer: LaneOptimizer {
    public struct Hyperparameters: OptimizerHyperparameters, Equatable {
        public var lr = 1e-4
        public var beta1 = 0.9, beta2 = 0.99
        public var weightDecay = 0.0
        /// lion-pytorch's option: the decay is divided by the configured (unscheduled) lr, so
        /// the per-step decay is `lr_t / lr * weight_decay`.
        public var decoupledWeightDecay = false

        public mutating func read(_ r: inout JSONObjectReader) throws(JSONFieldError) {
            try r.readLR(&lr)
            try r.readPair("betas", &beta1, &beta2, expected: "[beta1, beta2]") { _, b in b >= 0 && b <= 1 ? nil : "must be in [0, 1]" }
            try r.readWeightDecay(&weightDecay)
            try r.read("decoupled_weight_decay", &decoupledWeightDecay)
            if decoupledWeightDecay, lr == 0 {
                throw JSONFieldError(field: r.field("lr"), "must be > 0 with decoupled_weight_decay (the decay is divided by it), got 0")
            }
        }

        public var json: JSONObject {
            JSONObject([("lr", .number(lr)), ("betas", JSONObject.pair(beta1, beta2)), ("weight_decay", .number(weightDecay)),
                        ("decoupled_weight_decay", .bool(decoupledWeightDecay))])
        }
    }

    public static let type = "lion"
    public static let reference = "lion-pytorch 0.2.5 Lion"
    public static let defaults = Hyperparameters()
    public static let bitExact = true
    public static let stateTensors = [StateTensor<Hyperparameters>("exp_avg", map: .signed)]

    public static func rule(_ h: Hyperparameters, lr: Double, step: Int, scalars: inout [Double]) -> LaneRule {
        .lion(Lion(lr: lr, beta1: h.beta1, beta2: h.beta2, weightDecay: h.decoupledWeightDecay ? h.weightDecay / h.lr : h.weightDecay))
    }
}
