import StepJSON

/// Linear warmup, then the base learning rate.
public struct ConstantWithWarmup: LearningRateSchedule {
    public static let type = "constant_with_warmup"
    public let warmupSteps: Int
    public init(_ f: inout JSONObjectReader) throws(JSONFieldError) { warmupSteps = try f.warmupSteps() }
    public func factor(_ t: Int) -> Double { warmupFactor(t, warmupSteps) ?? 1 }
    public var fields: JSONObject { JSONObject([("warmup_steps", .number(Double(warmupSteps)))]) }
}
