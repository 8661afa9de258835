import Foundation
import StepJSON
import StepKernels

/// Schedule-free AdamW (schedulefree 1.4.1 AdamWScheduleFree). The session's `params` are the
/// training point y, the one gradients are taken at; `GET .../params?view=eval` is the point x
/// to evaluate and ship. Its own `warmup_steps` ramps lr; the session schedule still scales it.
public enum ScheduleFreeAdamWOptimizer: LaneOptimizer {
    public struct Hyperparameters: OptimizerHyperparameters, Equatable {
        public var lr = 0.0025
        public var beta1 = 0.9, beta2 = 0.999
        public var eps = 1e-8
        public var weightDecay = 0.0
        public var warmupSteps = 0
        public var r = 0.0
        public var weightLRPower = 2.0

        public mutating func read(_ reader: inout JSONObjectReader) throws(JSONFieldError) {
            try reader.readLR(&lr)
            try reader.readBetas(&beta1, &beta2)
            guard beta1 > 0 else {
                throw JSONFieldError(field: reader.field("betas") + "[0]", "must be in (0, 1) for schedule-free (x = lerp(y, z, 1 - 1/beta1)), got 0")
            }
            try reader.readEps(&eps)
            try reader.readWeightDecay(&weightDecay)
            warmupSteps = try reader.integer("warmup_steps", default: warmupSteps, "an integer >= 0") { $0 >= 0 }
            try reader.read("r", &r, "a number >= 0") { $0 >= 0 }
            try reader.read("weight_lr_power", &weightLRPower, "a number >= 0") { $0 >= 0 }
        }

        public var json: JSONObject {
            JSONObject([("lr", .number(lr)), ("betas", JSONObject.pair(beta1, beta2)), ("eps", .number(eps)),
                        ("weight_decay", .number(weightDecay)), ("warmup_steps", .number(Double(warmupSteps))),
                        ("r", .number(r)), ("weight_lr_power", .number(weightLRPower))])
        }
    }

    public static let type = "schedule_free_adamw"
    public static let reference = "schedulefree 1.4.1 AdamWScheduleFree"
    public static let defaults = Hyperparameters()
    public static let stateTensors = [StateTensor<Hyperparameters>("z"), StateTensor("exp_avg_sq")]
    /// The group's `lr_max` and `weight_sum`, as schedulefree keeps them.
    public static let scalars = [GroupScalar("lr_max", initial: -1), GroupScalar("weight_sum", initial: 0)]
    public static let views = ["eval"]

    public static func rule(_ h: Hyperparameters, lr: Double, step: Int, scalars: inout [Double]) -> LaneRule {
        let k = step - 1
        let warmedUp = lr * (k < h.warmupSteps ? Double(k + 1) / Double(h.warmupSteps) : 1)
        scalars[0] = max(warmedUp, scalars[0])
        let weight = pow(Double(k + 1), h.r) * pow(scalars[0], h.weightLRPower)
        scalars[1] += weight
        let ckp1 = scalars[1] == 0 ? 0 : weight / scalars[1]
        return .scheduleFreeAdamW(ScheduleFreeAdamW(lr: warmedUp, beta1: h.beta1, beta2: h.beta2, eps: h.eps,
                                                    weightDecay: h.weightDecay, ckp1: ckp1, step: step))
    }

    /// `eval`: x = lerp(y, z, 1 - 1/beta1); before the first step z does not exist and x is y.
    public static func view(_ name: String, _ h: Hyperparameters, step: Int, params: UnsafePointer<Float>,
                            state: (String) -> UnsafePointer<Float>?, range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        guard step > 0, let z = state("z") else {
            out.update(from: params + range.lowerBound, count: range.count)
            return
        }
        ScheduleFreeAdamW.evalPoint(y: params, z: z, beta1: h.beta1, range: range, into: out)
    }
}
