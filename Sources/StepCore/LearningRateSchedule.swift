import StepJSON

/// A learning-rate multiplier by step, as torch's LambdaLR applies it: the k-th step (1-based)
/// uses `lr * factor(k - 1)`. Each schedule is one small type in its own file; adding one means
/// adding a file and a line to `LearningRateSchedules.all`.
public protocol LearningRateSchedule: Sendable {
    static var type: String { get }
    /// Reads the schedule's own fields (everything but `type`).
    init(_ fields: inout JSONObjectReader) throws
    /// The multiplier for zero-based step `t`.
    func factor(_ t: Int) -> Double
    /// The fields as they would be written back (for GET /v1/sessions/{id}).
    var fields: JSONObject { get }
}

public enum LearningRateSchedules {
    typealias Factory = @Sendable (inout JSONObjectReader) throws -> any LearningRateSchedule

    static let all: [(type: String, make: Factory)] = [
        entry(ConstantSchedule.self), entry(ConstantWithWarmup.self), entry(WarmupCosine.self), entry(WarmupLinear.self),
        entry(StepDecay.self), entry(ExponentialDecay.self), entry(InverseSqrt.self),
    ]

    public static var types: [String] { all.map(\.type) }

    private static func entry<S: LearningRateSchedule>(_ s: S.Type) -> (type: String, make: Factory) {
        (S.type, { r throws in try S(&r) })
    }

    /// A schedule from `{"type": ..., ...}`; absent means constant.
    public static func parse(_ value: JSONValue?, path: String) throws(JSONFieldError) -> any LearningRateSchedule {
        guard let value, value != .null else { return ConstantSchedule() }
        var r = try JSONObjectReader(value, path: path)
        let type = try r.string("type") ?? "constant"
        guard let kind = all.first(where: { $0.type == type }) else {
            throw JSONFieldError(field: r.field("type"), "unknown schedule \"\(type)\"; expected one of \(all.map(\.type).joined(separator: ", "))")
        }
        do {
            let schedule = try kind.make(&r)
            try r.finish()
            return schedule
        } catch let e as JSONFieldError {
            throw e
        } catch {
            throw JSONFieldError(field: path, "\(error)")
        }
    }

    public static func json(_ s: any LearningRateSchedule) -> JSONValue {
        var o = JSONObject()
        o["type"] = .string(type(of: s).type)
        for (k, v) in s.fields.pairs { o[k] = v }
        return .object(o)
    }
}

/// Shared field readers for the warmup family.
extension JSONObjectReader {
    mutating func warmupSteps() throws(JSONFieldError) -> Int {
        try integer("warmup_steps", default: 0, "an integer >= 0") { $0 >= 0 }
    }

    mutating func totalSteps(atLeast warmup: Int) throws(JSONFieldError) -> Int {
        guard let t = try int("total_steps") else {
            throw JSONFieldError(field: field("total_steps"), "is required (an integer > warmup_steps)")
        }
        guard t >= 1, t >= warmup else {
            throw JSONFieldError(field: field("total_steps"), "must be an integer >= 1 and >= warmup_steps (\(warmup)), got \(t)")
        }
        return t
    }

    mutating func minLRRatio() throws(JSONFieldError) -> Double {
        try number("min_lr_ratio", default: 0, "in [0, 1]") { $0 >= 0 && $0 <= 1 }
    }
}

/// Linear warmup from 0: `t/w` while `t < w`.
@inline(__always)
func warmupFactor(_ t: Int, _ w: Int) -> Double? {
    t < w ? Double(t) / Double(w) : nil
}
