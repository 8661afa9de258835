import StepJSON
import StepKernels

/// torch.optim.Adadelta.
public enum AdadeltaOptimizer: LaneOptimizer {
    public struct Hyperparameters: OptimizerHyperparameters, Equatable {
        public var lr = 1.0
        public var rho = 0.9
        public var eps = 1e-6
        public var weightDecay = 0.0
        public var maximize = false

        public mutating func read(_ r: inout JSONObjectReader) throws(JSONFieldError) {
            try r.readLR(&lr)
            try r.read("rho", &rho, "a number in [0, 1]") { $0 >= 0 && $0 <= 1 }
            try r.readEps(&eps)
            try r.readWeightDecay(&weightDecay)
            try r.read("maximize", &maximize)
        }

        public var json: JSONObject {
            JSONObject([("lr", .number(lr)), ("rho", .number(rho)), ("eps", .number(eps)), ("weight_decay", .number(weightDecay)),
                        ("maximize", .bool(maximize))])
        }
    }

    public static let type = "adadelta"
    public static let reference = "torch.optim.Adadelta"
    public static let defaults = Hyperparameters()
    public static let stateTensors = [StateTensor<Hyperparameters>("square_avg", map: .unsigned), StateTensor("acc_delta", map: .unsigned)]

    public static func rule(_ h: Hyperparameters, lr: Double, step: Int, scalars: inout [Double]) -> LaneRule {
        .adadelta(Adadelta(lr: lr, rho: h.rho, eps: h.eps, weightDecay: h.weightDecay))
    }
}
