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
public struct NAdam: LaneFormula {
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

    @inlinable package static var stateCount: Int { 2 }

    @inlinable @inline(__always)
    package func lanes(_ p: inout Lanes, _ g: Lanes, _ s0: inout Lanes, _ s1: inout Lanes, _ s2: inout Lanes) {
        var g = g
        if l2 != 0 { g = .fma(p, l2, g) }
        p = p * decay
        s0 = lerp.apply(s0, g)                                                        // exp_avg
        s1 = Lanes.fma(oneMinusBeta2 * g, g, s1 * beta2)                              // exp_avg_sq
        let d = (s1 / biasCorrection2).sqrt + eps
        p = p + (gradCoefficient * g) / d
        p = p + (momentumCoefficient * s0) / d
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
