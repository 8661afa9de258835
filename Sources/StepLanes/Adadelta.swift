/// torch.optim.Adadelta: steps scaled by the ratio of running RMS of past updates to that of
/// gradients.
///
///     g     = g + wd*p                                (fused)
///     sa    = sa*rho + (1-rho)*g*g                    (addcmul, fused)
///     delta = sqrt(ad + eps) / sqrt(sa + eps) * g
///     ad    = ad*rho + (1-rho)*delta*delta            (addcmul, fused)
///     p     = p + (-lr)*delta                         (fused)
///
/// Slots: 0 square_avg, 1 acc_delta.
public struct Adadelta: Sendable {
    @usableFromInline let negLR: Float
    @usableFromInline let rho: Float, oneMinusRho: Float
    @usableFromInline let eps: Float
    @usableFromInline let weightDecay: Float

    public init(lr: Double, rho: Double, eps: Double, weightDecay: Double) {
        negLR = Float(-lr)
        self.rho = Float(rho)
        oneMinusRho = Float(1 - rho)
        self.eps = Float(eps)
        self.weightDecay = Float(weightDecay)
    }

    @inlinable @inline(__always)
    package func stream<Copy: CompiledCopy>(_ b: LaneBuffers, gradScale: Float, range: Range<Int>, _ copy: Copy.Type) -> UpdateStats {
        let squareAvg = b.s0!, accDelta = b.s1!
        var stats = StatsAccumulator()
        var i = range.lowerBound
        while i < range.upperBound {
            let n = range.upperBound - i
            let old = Lanes.load(b.params, i, n)
            var g = Lanes.load(b.grads, i, n) * gradScale
            if weightDecay != 0 { g = .fma(old, weightDecay, g) }
            let sa = Lanes.fma(oneMinusRho * g, g, Lanes.load(squareAvg, i, n) * rho)
            let ad = Lanes.load(accDelta, i, n)
            let delta = (ad + eps).sqrt / (sa + eps).sqrt * g
            Lanes.fma(oneMinusRho * delta, delta, ad * rho).store(accDelta, i, n)
            sa.store(squareAvg, i, n)
            let p = Lanes.fma(delta, negLR, old)
            p.store(b.params, i, n)
            stats.add(old: old, new: p, valid: n)
            i += 8
        }
        return stats.stats
    }
}
