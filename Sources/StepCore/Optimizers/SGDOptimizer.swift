import StepJSON
import StepKernels

/// torch.optim.SGD, with momentum, dampening and Nesterov.
public enum SGDOptimizer: LaneOptimizer {
    public struct Hyperparameters: OptimizerHyperparameters, Equatable {
        public var lr = 1e-3
        public var momentum = 0.0
        public var dampening = 0.0
        public var weightDecay = 0.0
        public var nesterov = false
        public var maximize = false

        public mutating func read(_ r: inout JSONObjectReader) throws(JSONFieldError) {
            try r.readLR(&lr)
            try r.read("momentum", &momentum, "a number >= 0") { $0 >= 0 }
            try r.read("dampening", &dampening, "a number in [0, 1]") { $0 >= 0 && $0 <= 1 }
            try r.readWeightDecay(&weightDecay)
            try r.read("nesterov", &nesterov)
            try r.read("maximize", &maximize)
            if nesterov, momentum <= 0 || dampening != 0 {
                throw JSONFieldError(field: r.field("nesterov"), "Nesterov momentum requires momentum > 0 and dampening = 0 (got momentum \(momentum), dampening \(dampening))")
            }
        }

        public var json: JSONObject {
            JSONObject([("lr", .number(lr)), ("momentum", .number(momentum)), ("dampening", .number(dampening)),
                        ("weight_decay", .number(weightDecay)), ("nesterov", .bool(nesterov)), ("maximize", .bool(maximize))])
        }
    }

    public static let type = "sgd"
    public static let reference = "torch.optim.SGD"
    public static let defaults = Hyperparameters()
    public static let bitExact = true
    public static let stateTensors = [StateTensor<Hyperparameters>("momentum_buffer", usedWhen: { $0.momentum != 0 }, map: .signed)]

    public static func rule(_ h: Hyperparameters, lr: Double, step: Int, scalars: inout [Double]) -> LaneRule {
        .sgd(SGD(lr: lr, momentum: h.momentum, dampening: h.dampening, weightDecay: h.weightDecay, nesterov: h.nesterov, step: step))
    }
}
