import StepJSON

/// `"optimizer": {"type": "adamw", "lr": ..., ...}`: which optimizer, and its own
/// hyperparameters (group 0's). Every value is validated on the way in, so a bad `betas` is
/// refused at create or PATCH time, never discovered as NaNs a hundred steps later.
public struct OptimizerConfig: Sendable {
    public var kind: any OptimizerDescriptor.Type
    public var hyper: any OptimizerHyperparameters

    public init(kind: any OptimizerDescriptor.Type, hyper: any OptimizerHyperparameters) {
        self.kind = kind
        self.hyper = hyper
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
        let hyper = try kind.read(&r, over: kind.defaults)
        try r.finish()
        return OptimizerConfig(kind: kind, hyper: hyper)
    }

    /// Hyperparameters of a group: the optimizer's, with the group's keys read over them.
    func group(_ r: inout JSONObjectReader) throws(JSONFieldError) -> any OptimizerHyperparameters {
        try kind.read(&r, over: hyper)
    }

    public var json: JSONValue {
        var o = JSONObject([("type", .string(kind.type))])
        for (k, v) in kind.json(hyper).pairs { o[k] = v }
        return .object(o)
    }
}

extension OptimizerConfig: Equatable {
    public static func == (a: OptimizerConfig, b: OptimizerConfig) -> Bool { a.json == b.json }
}
