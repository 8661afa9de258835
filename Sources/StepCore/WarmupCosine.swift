#if canImport(Glibc)
import Glibc
#endif
import StepJSON

/// Linear warmup, then a half cosine from 1 down to `min_lr_ratio` at `total_steps`, flat after.
public struct WarmupCosine: LearningRateSchedule {
    public static let type = "warmup_cosine"
    public let window: WarmupDecay
    public init(_ f: inout JSONObjectReader) throws(JSONFieldError) { window = try WarmupDecay(&f) }
    public func factor(_ t: Int) -> Double { window.factor(t) { p in 0.5 * (1 + cos(Double.pi * p)) } }
    public var fields: JSONObject { window.fields }
}
