import StepJSON
import StepKernels

/// Everything a session is, at one version: what a checkpoint or snapshot file holds, and what
/// `Session(restoring:)` rebuilds from. `Session.capture()` makes one with copies of the buffers;
/// a `SessionSnapshot` holds one whose buffers are the session's own (see there); a checkpoint
/// read from a file makes one with buffers of its own.
public struct SessionImage: @unchecked Sendable {
    public var id: String
    /// Typed and validated: whoever made the image parsed it once (a checkpoint's
    /// `__metadata__.config` is parsed by `SessionCheckpoint`); its JSON is `config.json`.
    public var config: SessionConfig
    public var step: Int
    public var state: OptimizerState
    public var history: [StepRecord]
    /// Step records ever appended (`StepHistory.total`), of which `history` is the tail.
    public var historyTotal: Int
    /// The session's change counter when the copy was taken.
    public var version: UInt64
    /// Contributions already counted toward the next accumulated step: they were
    /// acknowledged, so they travel with the session.
    public var pending: PendingContributions?
    /// The owning tenant (`Session.tenant`).
    public var tenant: String?

    public init(id: String, config: SessionConfig, step: Int, state: OptimizerState, history: [StepRecord], historyTotal: Int? = nil,
                version: UInt64, pending: PendingContributions? = nil, tenant: String? = nil) {
        self.id = id; self.config = config; self.step = step; self.state = state; self.history = history; self.version = version
        self.historyTotal = max(historyTotal ?? history.count, history.count)
        self.pending = pending
        self.tenant = tenant
    }
}

/// The part of an accumulated step received so far, as captured in a snapshot.
public struct PendingContributions: @unchecked Sendable {
    public var sum: AlignedBuffer
    public var seen: [Contribution]
    public var losses: [Double]
    public var finite: Bool

    public init(sum: AlignedBuffer, seen: [Contribution], losses: [Double], finite: Bool) {
        self.sum = sum; self.seen = seen; self.losses = losses; self.finite = finite
    }

    /// `seen`, `losses` and `finite` as JSON, for a snapshot's metadata.
    public var json: JSONValue {
        ["seen": .array(seen.map { [.number(Double($0.worker)), .number(Double($0.microBatch))] }),
         "losses": .array(losses.map { .number($0) }), "finite": .bool(finite)]
    }

    public init(sum: AlignedBuffer, json: JSONValue) throws(JSONFieldError) {
        var r = try JSONObjectReader(json, path: "accumulation")
        var seen: [Contribution] = []
        for (i, pair) in (try r.array("seen") ?? []).enumerated() {
            // Range-checked before conversion: Int(1e300) traps, and this comes from a file.
            guard case .array(let wm) = pair, wm.count == 2, case .number(let w) = wm[0], case .number(let m) = wm[1],
                  let worker = Self.index(w), let micro = Self.index(m) else {
                throw JSONFieldError(field: "accumulation.seen[\(i)]", "expected [worker, micro_batch], two integers in 0...\(Int32.max), got \(pair.preview)")
            }
            seen.append(Contribution(worker: worker, microBatch: micro))
        }
        let losses = try (r.array("losses") ?? []).enumerated().map { i, v throws(JSONFieldError) in
            try JSONObjectReader.number(v, field: "accumulation.losses[\(i)]")
        }
        let finite = try r.bool("finite") ?? true
        try r.finish()
        self.init(sum: sum, seen: seen, losses: losses, finite: finite)
    }

    private static func index(_ d: Double) -> Int? {
        d == d.rounded() && d >= 0 && d <= Double(Int32.max) ? Int(d) : nil
    }
}
