import StepJSON

/// The answer to a step request.
public struct StepOutcome: Sendable, Equatable {
    /// The step counter after the request.
    public var step: Int
    /// False while an accumulated step still waits for contributions.
    public var applied: Bool
    public var record: StepRecord?
    /// Learning rate per group for this step, by group name (default group first).
    public var groupLRs: [GroupLR]
    public var accumulated: Int
    public var needed: Int
    /// True when this is a stored answer returned for a retried Idempotency-Key.
    public var replayed = false

    public var json: JSONValue {
        var o = JSONObject()
        o["step"] = .number(Double(step))
        o["applied"] = .bool(applied)
        if let r = record {
            o["lr"] = .number(r.lr)
            o["grad_norm"] = r.gradNorm.map { .number($0) } ?? .null
            o["clip_coef"] = .number(r.clipCoef)
            o["clipped"] = .bool(r.clipped)
            o["skipped"] = .bool(r.skipped)
            o["update_norm"] = .number(r.updateNorm)
            o["param_norm"] = .number(r.paramNorm)
            o["update_ratio"] = .number(r.updateRatio)
            if let loss = r.loss { o["loss"] = .number(loss) }
            if let staleness = r.staleness { o["staleness"] = .number(Double(staleness)) }
            o["lrs"] = .object(JSONObject(groupLRs.map { ($0.group, .number($0.lr)) }))
        }
        if needed > 1 {
            o["accumulated"] = .number(Double(accumulated))
            o["needed"] = .number(Double(needed))
        }
        if replayed { o["replayed"] = true }
        return .object(o)
    }
}

/// The learning rate one parameter group used for a step.
public struct GroupLR: Sendable, Equatable {
    public var group: String
    public var lr: Double
}
