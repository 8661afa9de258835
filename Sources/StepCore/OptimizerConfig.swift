import StepJSON
import StepKernels

/// `"optimizer": {"type": "adamw", "lr": ..., ...}`: which optimizer, and its own
/// hyperparameters (group 0's). Every value is validated on the way in, so a bad `betas` is
/// refused at create or PATCH time, never discovered as NaNs a hundred steps later.
public struct OptimizerConfig: Sendable {
    public var kind: any OptimizerDescriptor.Type
    public var hyper: any OptimizerHyperparameters
    /// `"state_dtype"`: how the optimizer state is stored (group 0's, and every group's that
    /// does not set its own).
    public var stateDType: StateDType

    public init(kind: any OptimizerDescriptor.Type, hyper: any OptimizerHyperparameters, stateDType: StateDType = .f32) {
        self.kind = kind
        self.hyper = hyper
        self.stateDType = stateDType
    }

    public var type: String { kind.type }

    public static func parse(_ value: JSONValue?, path: String) throws(JSONFieldError) -> OptimizerConfig {
        guard let value else { throw JSONFieldError(field: path, "is required (an object with \"type\")") }
        var r = try JSONObjectReader(value, path: path)
        let expected = "expected one of \(Optimizers.types.joined(separator: ", "))"
        guard let type = try r.string("type") else {
            throw JSONFieldError(field: r.field("type"), "is required; \(expected)")
        }
        guard let kind = Optimizers.named(type) else {
            throw JSONFieldError(field: r.field("type"), "unknown optimizer \"\(type)\"; \(expected)")
        }
        let stateDType = try readStateDType(&r, kind: kind, default: .f32)
        let hyper = try kind.read(&r, over: kind.defaults)
        try r.finish()
        return OptimizerConfig(kind: kind, hyper: hyper, stateDType: stateDType)
    }

    /// Hyperparameters of a group: the optimizer's, with the group's keys read over them.
    func group(_ r: inout JSONObjectReader) throws(JSONFieldError) -> any OptimizerHyperparameters {
        try kind.read(&r, over: hyper)
    }

    /// `state_dtype` of `r` (`base` when absent), checked against what the optimizer can keep.
    static func readStateDType(_ r: inout JSONObjectReader, kind: any OptimizerDescriptor.Type,
                               default base: StateDType) throws(JSONFieldError) -> StateDType {
        guard let text = try r.string("state_dtype") else { return base }
        let allowed = kind.stateDTypes
        guard let d = StateDType(rawValue: text), allowed.contains(d) else {
            let known = StateDType(rawValue: text) != nil ? "optimizer \"\(kind.type)\" keeps its state" : "expected"
            throw JSONFieldError(field: r.field("state_dtype"), "\"\(text.prefix(40))\": \(known) in one of \(allowed.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))")
        }
        return d
    }

    public var json: JSONValue {
        var o = JSONObject([("type", .string(kind.type))])
        for (k, v) in kind.json(hyper).pairs { o[k] = v }
        o["state_dtype"] = .string(stateDType.rawValue)
        return .object(o)
    }
}

extension OptimizerConfig: Equatable {
    public static func == (a: OptimizerConfig, b: OptimizerConfig) -> Bool { a.json == b.json }
}
