/// torch.optim.ASGD: SGD with a decaying step `eta` and a running average `ax` of the iterates.
///
///     g  = g + wd*p                 (fused)
///     p  = p * (1 - lambd*eta)
///     p  = p + (-eta)*g             (fused)
///     ax = mu == 1 ? p : ax + (p - ax)*mu
///
/// `eta` and `mu` are per-group float32 scalars StepCore carries from step to step (torch keeps
/// them as 0-dim tensors). Bit for bit torch's result. Slot 0: ax.
public struct ASGD: Sendable {
    @usableFromInline let weightDecay: Float
    @usableFromInline let decay: Float
    @usableFromInline let negEta: Float
    @usableFromInline let mu: Float

    /// - Parameters:
    ///   - eta: the step size torch stored after the previous step (float32).
    ///   - mu: the averaging weight torch stored after the previous step (float32).
    public init(eta: Float, mu: Float, lambd: Double, weightDecay: Double) {
        self.weightDecay = Float(weightDecay)
        decay = Float(1 - lambd * Double(eta))
        negEta = -eta
        self.mu = mu
    }

    @inlinable @inline(__always)
    package func stream<Copy: CompiledCopy>(_ b: LaneBuffers, gradScale: Float, range: Range<Int>, _ copy: Copy.Type) -> UpdateStats {
        let ax = b.s0!
        var stats = StatsAccumulator()
        var i = range.lowerBound
        while i < range.upperBound {
            let n = range.upperBound - i
            let old = Lanes.load(b.params, i, n)
            var g = Lanes.load(b.grads, i, n) * gradScale
            if weightDecay != 0 { g = .fma(old, weightDecay, g) }
            let p = Lanes.fma(g, negEta, old * decay)
            if mu == 1 {
                p.store(ax, i, n)
            } else {
                let a = Lanes.load(ax, i, n)
                (a + (p - a) * mu).store(ax, i, n)
            }
            p.store(b.params, i, n)
            stats.add(old: old, new: p, valid: n)
            i += 8
        }
        return stats.stats
    }
}
