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
public struct Adamax: LaneFormula {
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

    @inlinable package static var stateCount: Int { 2 }

    @inlinable @inline(__always)
    package func lanes(_ p: inout Lanes, _ g: Lanes, _ s0: inout Lanes, _ s1: inout Lanes, _ s2: inout Lanes) {
        var g = g
        if weightDecay != 0 { g = .fma(p, weightDecay, g) }
        s0 = lerp.apply(s0, g)                                                        // exp_avg
        s1 = Lanes.maximum(s1 * beta2, g.replacing(with: -g, where: g .< 0) + eps)   // exp_inf
        p = p + (negCLR * s0) / s1
    }
}
