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

    mutating func reset() {
        sum.fill(0)
        seen.removeAll()
        losses.removeAll()
        finite = true
    }
}
