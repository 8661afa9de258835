import Foundation
import StepJSON
import StepKernels

/// torch.optim.ASGD; bit for bit torch's result. The averaged parameters `ax` are readable as
/// `GET .../params?view=average`.
public enum ASGDOptimizer: LaneOptimizer {
    public struct Hyperparameters: OptimizerHyperparameters, Equatable {
        public var lr = 1e-2
        public var lambd = 1e-4
        public var alpha = 0.75
        public var t0 = 1e6
        public var weightDecay = 0.0
        public var maximize = false

        public mutating func read(_ r: inout JSONObjectReader) throws(JSONFieldError) {
            try r.readLR(&lr)
            try r.read("lambd", &lambd, "a number >= 0") { $0 >= 0 }
            try r.read("alpha", &alpha, "a number >= 0") { $0 >= 0 }
            try r.read("t0", &t0, "a number >= 0") { $0 >= 0 }
            try r.readWeightDecay(&weightDecay)
            try r.read("maximize", &maximize)
        }

        public var json: JSONObject {
            JSONObject([("lr", .number(lr)), ("lambd", .number(lambd)), ("alpha", .number(alpha)), ("t0", .number(t0)),
                        ("weight_decay", .number(weightDecay)), ("maximize", .bool(maximize))])
        }
    }

    public static let type = "asgd"
    public static let reference = "torch.optim.ASGD"
    public static let defaults = Hyperparameters()
    public static let bitExact = true
    public static let stateTensors = [StateTensor<Hyperparameters>("ax")]
    /// torch's float32 `eta` and `mu`, as its previous step left them. torch creates eta from the
    /// group's lr on the first step, so its start value here is only a placeholder.
    public static let scalars = [GroupScalar("eta", initial: 0), GroupScalar("mu", initial: 1)]
    public static let views = ["average"]

    public static func rule(_ h: Hyperparameters, lr: Double, step: Int, scalars: inout [Double]) -> LaneRule {
        if step == 1 { scalars = [Double(Float(lr)), 1] }
        let kernel = ASGD(eta: Float(scalars[0]), mu: Float(scalars[1]), lambd: h.lambd, weightDecay: h.weightDecay)
        let t = Double(step)
        scalars[0] = Double(Float(lr / pow(1 + h.lambd * lr * t, h.alpha)))
        scalars[1] = Double(Float(1 / max(1, t - h.t0)))
        return .asgd(kernel)
    }

    /// `average`: ax, torch's running average of the iterates (the parameters before any step).
    public static func view(_ name: String, _ h: Hyperparameters, step: Int, params: UnsafePointer<Float>,
                            state: (String) -> UnsafePointer<Float>?, range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let source = step == 0 ? params : (state("ax") ?? params)
        out.update(from: source + range.lowerBound, count: range.count)
    }
}
