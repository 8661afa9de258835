#if canImport(Glibc)
import Glibc
#endif
import StepJSON

/// torch's ExponentialLR: multiply by `gamma` every step.
public struct ExponentialDecay: LearningRateSchedule {
    public static let type = "exponential"
    public let gamma: Double
    public init(_ f: inout JSONObjectReader) throws(JSONFieldError) {
        guard f.has("gamma") else { throw JSONFieldError(field: f.field("gamma"), "is required (a number > 0)") }
        gamma = try f.number("gamma", default: 1, "a number > 0") { $0 > 0 }
    }
    public func factor(_ t: Int) -> Double { pow(gamma, Double(t)) }
    public var fields: JSONObject { JSONObject([("gamma", .number(gamma))]) }
}
