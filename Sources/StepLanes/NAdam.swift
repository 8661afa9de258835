/// torch.optim.NAdam: Adam with Nesterov momentum and the momentum-decay schedule
/// `mu_t = b1 * (1 - 0.5 * 0.96^(t * momentum_decay))`.
///
///     p    = p * (1 - lr*wd)          (decoupled; otherwise g = g + wd*p, fused)
///     m    = lerp(m, g, 1-b1)
///     v    = v*b2 + (1-b2)*g*g        (addcmul, fused)
///     d    = sqrt(v / (1-b2^t)) + eps
///     p    = p + (c1 * g) / d         c1 = -lr*(1-mu_t) / (1 - prod(mu))
///     p    = p + (c2 * m) / d         c2 = -lr*mu_{t+1} / (1 - prod(mu)*mu_{t+1})
///
/// The product of the mu's is a per-group scalar StepCore carries. Slots: 0 exp_avg, 1 exp_avg_sq.
public struct NAdam: Sendable {
    @usableFromInline let decay: Float
    @usableFromInline let l2: Float
    @usableFromInline let lerp: LerpWeight
    @usableFromInline let beta2: Float, oneMinusBeta2: Float
    @usableFromInline let biasCorrection2: Float
    @usableFromInline let eps: Float
    @usableFromInline let gradCoefficient: Float
    @usableFromInline let momentumCoefficient: Float

    /// - Parameters:
    ///   - mu, muNext: this step's and the next step's momentum coefficients.
    ///   - muProduct: the product of the mu's up to and including this step's.
    public init(lr: Double, beta1: Double, beta2: Double, eps: Double, weightDecay: Double, decoupled: Bool,
                mu: Double, muNext: Double, muProduct: Double, step: Int) {
        decay = decoupled ? Float(1 - lr * weightDecay) : 1
        l2 = decoupled ? 0 : Float(weightDecay)
        lerp = LerpWeight(1 - beta1)
        self.beta2 = Float(beta2)
        oneMinusBeta2 = Float(1 - beta2)
        biasCorrection2 = Float(1 - pow(beta2, Double(step)))
        self.eps = Float(eps)
        gradCoefficient = Float(-lr * (1 - mu) / (1 - muProduct))
        momentumCoefficient = Float((-lr * muNext) / (1 - muProduct * muNext))
    }

    @inlinable @inline(__always)
    package func stream<Copy: CompiledCopy>(_ b: LaneBuffers, gradScale: Float, range: Range<Int>, _ copy: Copy.Type) -> UpdateStats {
        let expAvg = b.s0!, expAvgSq = b.s1!
        var stats = StatsAccumulator()
        var i = range.lowerBound
        while i < range.upperBound {
            let n = range.upperBound - i
            let old = Lanes.load(b.params, i, n)
            var p = old * decay
            var g = Lanes.load(b.grads, i, n) * gradScale
            if l2 != 0 { g = .fma(old, l2, g) }
            let m = lerp.apply(Lanes.load(expAvg, i, n), g)
            let v = Lanes.fma(oneMinusBeta2 * g, g, Lanes.load(expAvgSq, i, n) * beta2)
            let d = (v / biasCorrection2).sqrt + eps
            p = p + (gradCoefficient * g) / d
            p = p + (momentumCoefficient * m) / d
            m.store(expAvg, i, n)
            v.store(expAvgSq, i, n)
            p.store(b.params, i, n)
            stats.add(old: old, new: p, valid: n)
            i += 8
        }
        return stats.stats
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
