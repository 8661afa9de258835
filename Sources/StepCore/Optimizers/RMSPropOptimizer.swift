import StepJSON
import StepKernels

/// torch.optim.RMSprop, with momentum and centering.
public enum RMSPropOptimizer: LaneOptimizer {
    public struct Hyperparameters: OptimizerHyperparameters, Equatable {
        public var lr = 1e-2
        public var alpha = 0.99
        public var eps = 1e-8
        public var weightDecay = 0.0
        public var momentum = 0.0
        public var centered = false
        public var maximize = false

        public mutating func read(_ r: inout JSONObjectReader) throws(JSONFieldError) {
            try r.readLR(&lr)
            try r.read("alpha", &alpha, "a number in [0, 1]") { $0 >= 0 && $0 <= 1 }
            try r.readEps(&eps)
            try r.readWeightDecay(&weightDecay)
            try r.read("momentum", &momentum, "a number >= 0") { $0 >= 0 }
            try r.read("centered", &centered)
            try r.read("maximize", &maximize)
        }

        public var json: JSONObject {
            JSONObject([("lr", .number(lr)), ("alpha", .number(alpha)), ("eps", .number(eps)), ("weight_decay", .number(weightDecay)),
                        ("momentum", .number(momentum)), ("centered", .bool(centered)), ("maximize", .bool(maximize))])
        }
    }

    public static let type = "rmsprop"
    public static let reference = "torch.optim.RMSprop"
    public static let defaults = Hyperparameters()
    public static let stateTensors: [StateTensor<Hyperparameters>] = [
        StateTensor("square_avg", map: .unsigned), StateTensor("grad_avg", usedWhen: { $0.centered }, map: .signed),
        StateTensor("momentum_buffer", usedWhen: { $0.momentum > 0 }, map: .signed),
    ]

    public static func rule(_ h: Hyperparameters, lr: Double, step: Int, scalars: inout [Double]) -> LaneRule {
        .rmsProp(RMSProp(lr: lr, alpha: h.alpha, eps: h.eps, weightDecay: h.weightDecay, momentum: h.momentum, centered: h.centered))
    }
}
