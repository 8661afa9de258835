#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// torch.optim.Adamax: Adam with the infinity norm in place of the second moment.
///
///     g  = g + wd*p                   (fused)
///     m  = lerp(m, g, 1-b1)
///     u  = maximum(u*b2, |g| + eps)
///     p  = p + (-lr/(1-b1^t) * m) / u
///
/// No square root, so torch's own result is reproducible and this matches it bit for bit.
/// Slots: 0 exp_avg, 1 exp_inf.
public struct Adamax: Sendable {
    @usableFromInline let weightDecay: Float
    @usableFromInline let lerp: LerpWeight
    @usableFromInline let beta2: Float
    @usableFromInline let eps: Float
    @usableFromInline let negCLR: Float

    /// - Parameter step: the 1-based step being taken.
    public init(lr: Double, beta1: Double, beta2: Double, eps: Double, weightDecay: Double, step: Int) {
        self.weightDecay = Float(weightDecay)
        lerp = LerpWeight(1 - beta1)
        self.beta2 = Float(beta2)
        self.eps = Float(eps)
        negCLR = Float(-(lr / (1 - pow(beta1, Double(step)))))
    }

    @inlinable @inline(__always)
    package func stream<Copy: CompiledCopy>(_ b: LaneBuffers, gradScale: Float, range: Range<Int>, _ copy: Copy.Type) -> UpdateStats {
        let expAvg = b.s0!, expInf = b.s1!
        var stats = StatsAccumulator()
        var i = range.lowerBound
        while i < range.upperBound {
            let n = range.upperBound - i
            let old = Lanes.load(b.params, i, n)
            var g = Lanes.load(b.grads, i, n) * gradScale
            if weightDecay != 0 { g = .fma(old, weightDecay, g) }
            let m = lerp.apply(Lanes.load(expAvg, i, n), g)
            let u = Lanes.maximum(Lanes.load(expInf, i, n) * beta2, g.replacing(with: -g, where: g .< 0) + eps)
            let p = old + (negCLR * m) / u
            m.store(expAvg, i, n)
            u.store(expInf, i, n)
            p.store(b.params, i, n)
            stats.add(old: old, new: p, valid: n)
            i += 8
        }
        return stats.stats
    }
}
