import StepJSON

/// The first phase of a step split over servers (`Session.prepare`): the gradient is stored,
/// and its per-tensor sums of squares go to the client, which adds every server's up in
/// declared order for the global norm that `Session.commit` then clips with.
public struct PreparedStep: Sendable {
    /// The step counter the commit applies to.
    public let step: Int
    /// Each tensor's float64 sum of squares, in declared order.
    public let tensorSums: [(name: String, sum: Double)]
    public let finite: Bool
    let loss: Double?
    let staleness: Int?
    let idempotencyKey: String?
    /// `ProcessInfo.systemUptime` after which it is dropped.
    let expires: Double
    let ttl: Double
    let upload: GradientUpload
    /// The upload holds the session's own gradient buffer, which goes back to it when the step
    /// is committed, aborted or dropped.
    let ownsSessionBuffer: Bool

    public var json: JSONValue {
        var o = JSONObject()
        o["step"] = .number(Double(step))
        o["prepared"] = true
        o["finite"] = .bool(finite)
        // A non-finite sum has no JSON number; null says "not finite", `finite` says so overall.
        o["tensor_sums"] = .object(JSONObject(tensorSums.map { ($0.name, $0.sum.isFinite ? .number($0.sum) : .null) }))
        o["expires_in_s"] = .number(ttl)
        return .object(o)
    }
}
