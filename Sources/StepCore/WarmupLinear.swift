import StepJSON

/// Linear warmup, then a straight line from 1 down to `min_lr_ratio` at `total_steps`, flat after.
public struct WarmupLinear: LearningRateSchedule {
    public static let type = "warmup_linear"
    public let window: WarmupDecay
    public init(_ f: inout JSONObjectReader) throws(JSONFieldError) { window = try WarmupDecay(&f) }
    public func factor(_ t: Int) -> Double { window.factor(t) { p in 1 - p } }
    public var fields: JSONObject { window.fields }
}
