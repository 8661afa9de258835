import StepJSON

/// The Transformer schedule: linear warmup, then decay as sqrt(w/t).
public struct InverseSqrt: LearningRateSchedule {
    public static let type = "inverse_sqrt"
    public let warmupSteps: Int
    public init(_ f: inout JSONObjectReader) throws(JSONFieldError) {
        warmupSteps = try f.integer("warmup_steps", default: 1, "an integer >= 1") { $0 >= 1 }
    }
    public func factor(_ t: Int) -> Double {
        if let w = warmupFactor(t, warmupSteps) { return w }
        return (Double(warmupSteps) / Double(t)).squareRoot()
    }
    public var fields: JSONObject { JSONObject([("warmup_steps", .number(Double(warmupSteps)))]) }
}
