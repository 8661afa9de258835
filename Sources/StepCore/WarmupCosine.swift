#if canImport(Glibc)
import Glibc
#endif
import StepJSON

/// Linear warmup, then a half cosine from 1 down to `min_lr_ratio` at `total_steps`, flat after.
public struct WarmupCosine: LearningRateSchedule {
    public static let type = "warmup_cosine"
    public let warmupSteps: Int, totalSteps: Int, minLRRatio: Double
    public init(_ f: inout JSONObjectReader) throws(JSONFieldError) {
        warmupSteps = try f.warmupSteps()
        totalSteps = try f.totalSteps(atLeast: warmupSteps)
        minLRRatio = try f.minLRRatio()
    }
    public func factor(_ t: Int) -> Double {
        if let w = warmupFactor(t, warmupSteps) { return w }
        let p = min(1, Double(t - warmupSteps) / Double(max(1, totalSteps - warmupSteps)))
        return minLRRatio + (1 - minLRRatio) * 0.5 * (1 + cos(Double.pi * p))
    }
    public var fields: JSONObject {
        JSONObject([("warmup_steps", .number(Double(warmupSteps))), ("total_steps", .number(Double(totalSteps))),
                    ("min_lr_ratio", .number(minLRRatio))])
    }
}
