import StepJSON

/// One line of a session's history: what a step request did.
public struct StepRecord: Sendable, Equatable {
    /// The step counter after this request (unchanged when skipped).
    public var step: Int
    public var lr: Double
    /// Global L2 norm of the (mean) gradient before clipping; nil when it was not finite.
    public var gradNorm: Double?
    public var clipCoef: Double
    public var clipped: Bool
    public var skipped: Bool
    public var loss: Double?
    public var updateNorm: Double
    public var paramNorm: Double
    /// Seconds since the epoch.
    public var time: Double
    /// Steps between the parameters the gradient was computed from (`based_on`) and the ones
    /// it was applied to; nil when the request did not say.
    public var staleness: Int? = nil

    public var updateRatio: Double { paramNorm > 0 ? updateNorm / paramNorm : 0 }

    public var json: JSONValue {
        var o = JSONObject()
        o["step"] = .number(Double(step))
        o["lr"] = .number(lr)
        o["grad_norm"] = gradNorm.map { .number($0) } ?? .null
        o["clip_coef"] = .number(clipCoef)
        o["clipped"] = .bool(clipped)
        o["skipped"] = .bool(skipped)
        o["loss"] = loss.map { .number($0) } ?? .null
        o["update_norm"] = .number(updateNorm)
        o["param_norm"] = .number(paramNorm)
        o["update_ratio"] = .number(updateRatio)
        o["time"] = .number(time)
        if let staleness { o["staleness"] = .number(Double(staleness)) }
        return .object(o)
    }

    public init(step: Int, lr: Double, gradNorm: Double?, clipCoef: Double, clipped: Bool, skipped: Bool,
                loss: Double?, updateNorm: Double, paramNorm: Double, time: Double) {
        self.step = step; self.lr = lr; self.gradNorm = gradNorm; self.clipCoef = clipCoef; self.clipped = clipped
        self.skipped = skipped; self.loss = loss; self.updateNorm = updateNorm; self.paramNorm = paramNorm; self.time = time
    }

    public init(json: JSONValue) throws(JSONFieldError) {
        var r = try JSONObjectReader(json, path: "history")
        step = try r.int("step") ?? 0
        lr = try r.double("lr") ?? 0
        gradNorm = try r.double("grad_norm")
        clipCoef = try r.double("clip_coef") ?? 1
        clipped = try r.bool("clipped") ?? false
        skipped = try r.bool("skipped") ?? false
        loss = try r.double("loss")
        updateNorm = try r.double("update_norm") ?? 0
        paramNorm = try r.double("param_norm") ?? 0
        _ = r.value("update_ratio")
        time = try r.double("time") ?? 0
        staleness = try r.int("staleness")
    }
}
