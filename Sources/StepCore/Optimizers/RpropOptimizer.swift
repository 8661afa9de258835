import StepJSON
import StepKernels

/// torch.optim.Rprop; bit for bit torch's result. As in torch, `lr` only sets the first step
/// size: a schedule or a PATCH of lr after step 1 has no effect.
public enum RpropOptimizer: LaneOptimizer {
    public struct Hyperparameters: OptimizerHyperparameters, Equatable {
        public var lr = 1e-2
        public var etaMinus = 0.5, etaPlus = 1.2
        public var minStep = 1e-6, maxStep = 50.0
        public var maximize = false

        public mutating func read(_ r: inout JSONObjectReader) throws(JSONFieldError) {
            try r.readLR(&lr)
            try r.readPair("etas", &etaMinus, &etaPlus, expected: "[etaminus, etaplus] with 0 < etaminus < 1 < etaplus") { i, v in
                i == 0 ? (v > 0 && v < 1 ? nil : "etaminus must be in (0, 1)") : (v > 1 && v.isFinite ? nil : "etaplus must be > 1")
            }
            try r.readPair("step_sizes", &minStep, &maxStep, expected: "[min, max] step sizes with 0 <= min <= max") { i, v in
                v >= 0 && v.isFinite ? nil : "must be a number >= 0"
            }
            guard minStep <= maxStep else {
                throw JSONFieldError(field: r.field("step_sizes"), "expected min <= max, got [\(minStep), \(maxStep)]")
            }
            try r.read("maximize", &maximize)
        }

        public var json: JSONObject {
            JSONObject([("lr", .number(lr)), ("etas", JSONObject.pair(etaMinus, etaPlus)),
                        ("step_sizes", JSONObject.pair(minStep, maxStep)), ("maximize", .bool(maximize))])
        }
    }

    public static let type = "rprop"
    public static let reference = "torch.optim.Rprop"
    public static let defaults = Hyperparameters()
    public static let bitExact = true
    public static let stateTensors = [StateTensor<Hyperparameters>("prev"), StateTensor("step_size")]

    public static func rule(_ h: Hyperparameters, lr: Double, step: Int, scalars: inout [Double]) -> LaneRule {
        .rprop(Rprop(lr: lr, etaMinus: h.etaMinus, etaPlus: h.etaPlus, minStep: h.minStep, maxStep: h.maxStep, step: step))
    }
}
