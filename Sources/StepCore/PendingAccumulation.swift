import StepKernels

/// Contributions received for the next accumulated step. The sum has its own buffer (4 B/param,
/// only for sessions that accumulate) so a contribution that is refused half-way through its
/// body never touches what is already summed.
struct PendingAccumulation {
    let sum: AlignedBuffer
    var seen: Set<Contribution> = []
    var losses: [Double] = []
    var finite = true

    init(count: Int) { sum = AlignedBuffer(count: count) }

    init(_ p: PendingContributions) {
        sum = p.sum
        seen = Set(p.seen)
        losses = p.losses
        finite = p.finite
    }

    /// A copy for a snapshot; nil when nothing is pending.
    var captured: PendingContributions? {
        live.map { p in PendingContributions(sum: p.sum.copy(), seen: p.seen, losses: p.losses, finite: p.finite) }
    }

    /// What `captured` holds, but with the session's own sum buffer (for `SessionSnapshot`).
    var live: PendingContributions? {
        seen.isEmpty ? nil : PendingContributions(sum: sum, seen: seen.sorted { ($0.worker, $0.microBatch) < ($1.worker, $1.microBatch) },
                                                  losses: losses, finite: finite)
    }

    mutating func reset() {
        sum.fill(0)
        seen.removeAll()
        losses.removeAll()
        finite = true
    }
}
