import StepJSON

/// No schedule: every step uses the base learning rate.
public struct ConstantSchedule: LearningRateSchedule {
    public static let type = "constant"
    public init() {}
    public init(_ fields: inout JSONObjectReader) throws(JSONFieldError) {}
    public func factor(_ t: Int) -> Double { 1 }
    public var fields: JSONObject { JSONObject() }
}
