#if canImport(Glibc)
import Glibc
#endif
import StepJSON

/// torch's StepLR: multiply by `gamma` every `step_size` steps.
public struct StepDecay: LearningRateSchedule {
    public static let type = "step"
    public let stepSize: Int, gamma: Double
    public init(_ f: inout JSONObjectReader) throws(JSONFieldError) {
        guard f.has("step_size") else { throw JSONFieldError(field: f.field("step_size"), "is required (an integer >= 1)") }
        stepSize = try f.integer("step_size", default: 1, "an integer >= 1") { $0 >= 1 }
        gamma = try f.number("gamma", default: 0.1, "a number > 0") { $0 > 0 }
    }
    public func factor(_ t: Int) -> Double { pow(gamma, Double(t / stepSize)) }
    public var fields: JSONObject { JSONObject([("step_size", .number(Double(stepSize))), ("gamma", .number(gamma))]) }
}
