import StepJSON

/// The shared part of warmup-then-decay schedules: linear warmup over `warmup_steps`, then a
/// progress `p` from 0 to 1 over the rest of `total_steps`, ending at `min_lr_ratio`.
public struct WarmupDecay: Sendable {
    public let warmupSteps: Int, totalSteps: Int, minLRRatio: Double

    init(_ f: inout JSONObjectReader) throws(JSONFieldError) {
        warmupSteps = try f.warmupSteps()
        totalSteps = try f.totalSteps(atLeast: warmupSteps)
        minLRRatio = try f.minLRRatio()
    }

    /// The warmup factor, or nil after warmup.
    func warmup(_ t: Int) -> Double? { warmupFactor(t, warmupSteps) }

    /// `min(1, (t - w) / max(1, T - w))`
    func progress(_ t: Int) -> Double {
        min(1, Double(t - warmupSteps) / Double(max(1, totalSteps - warmupSteps)))
    }

    /// From 1 at p = 0 down to `min_lr_ratio` at p = 1, along `shape` (1 at 0, 0 at 1).
    func factor(_ t: Int, shape: (Double) -> Double) -> Double {
        warmup(t) ?? minLRRatio + (1 - minLRRatio) * shape(progress(t))
    }

    var fields: JSONObject {
        JSONObject([("warmup_steps", .number(Double(warmupSteps))), ("total_steps", .number(Double(totalSteps))),
                    ("min_lr_ratio", .number(minLRRatio))])
    }
}
