import StepJSON
import StepKernels

/// torch.optim.Adagrad.
public enum AdagradOptimizer: LaneOptimizer {
    public struct Hyperparameters: OptimizerHyperparameters, Equatable {
        public var lr = 1e-2
        public var lrDecay = 0.0
        public var weightDecay = 0.0
        public var initialAccumulatorValue = 0.0
        public var eps = 1e-10
        public var maximize = false

        public mutating func read(_ r: inout JSONObjectReader) throws(JSONFieldError) {
            try r.readLR(&lr)
            try r.read("lr_decay", &lrDecay, "a number >= 0") { $0 >= 0 }
            try r.readWeightDecay(&weightDecay)
            try r.read("initial_accumulator_value", &initialAccumulatorValue, "a number >= 0") { $0 >= 0 }
            try r.readEps(&eps)
            try r.read("maximize", &maximize)
        }

        public var json: JSONObject {
            JSONObject([("lr", .number(lr)), ("lr_decay", .number(lrDecay)), ("weight_decay", .number(weightDecay)),
                        ("initial_accumulator_value", .number(initialAccumulatorValue)), ("eps", .number(eps)), ("maximize", .bool(maximize))])
        }
    }

    public static let type = "adagrad"
    public static let reference = "torch.optim.Adagrad"
    public static let defaults = Hyperparameters()
    /// The accumulator starts at each group's `initial_accumulator_value`.
    public static let stateTensors = [StateTensor<Hyperparameters>("sum", initial: { Float($0.initialAccumulatorValue) }, map: .unsigned)]

    public static func rule(_ h: Hyperparameters, lr: Double, step: Int, scalars: inout [Double]) -> LaneRule {
        .adagrad(Adagrad(lr: lr, lrDecay: h.lrDecay, eps: h.eps, weightDecay: h.weightDecay, step: step))
    }
}
