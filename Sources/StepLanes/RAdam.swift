#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// torch.optim.RAdam: Adam whose adaptive step is switched on only once the variance of the
/// second moment is tractable (rho_t > 5), and then scaled by the rectification term.
///
///     p  = p * (1 - lr*wd)            (decoupled; otherwise g = g + wd*p, fused)
///     m  = lerp(m, g, 1-b1)
///     v  = v*b2 + (1-b2)*g*g          (addcmul, fused)
///     u  = m / (1-b1^t) * lr                                   rho_t <= 5
///     u  = m / (1-b1^t) * lr * ((1 / (sqrt(v) + eps)) * sqrt(1-b2^t)) * rect   rho_t > 5
///     p  = p - u
///
/// Slots: 0 exp_avg, 1 exp_avg_sq.
public struct RAdam: LaneFormula {
    @usableFromInline let decay: Float
    @usableFromInline let l2: Float
    @usableFromInline let lerp: LerpWeight
    @usableFromInline let beta2: Float, oneMinusBeta2: Float
    @usableFromInline let biasCorrection1: Float
    @usableFromInline let lr: Float
    @usableFromInline let eps: Float
    @usableFromInline let rectified: Bool
    @usableFromInline let biasCorrection2Sqrt: Float
    @usableFromInline let rect: Float

    public init(lr: Double, beta1: Double, beta2: Double, eps: Double, weightDecay: Double, decoupled: Bool, step: Int) {
        decay = decoupled ? Float(1 - lr * weightDecay) : 1
        l2 = decoupled ? 0 : Float(weightDecay)
        lerp = LerpWeight(1 - beta1)
        self.beta2 = Float(beta2)
        oneMinusBeta2 = Float(1 - beta2)
        let t = Double(step)
        biasCorrection1 = Float(1 - pow(beta1, t))
        let bc2 = 1 - pow(beta2, t)
        self.lr = Float(lr)
        self.eps = Float(eps)
        let rhoInf = 2 / (1 - beta2) - 1
        let rhoT = rhoInf - 2 * t * pow(beta2, t) / bc2
        rectified = rhoT > 5
        biasCorrection2Sqrt = Float(bc2.squareRoot())
        rect = rectified ? Float(((rhoT - 4) * (rhoT - 2) * rhoInf / ((rhoInf - 4) * (rhoInf - 2) * rhoT)).squareRoot()) : 1
    }

    @inlinable package static var stateCount: Int { 2 }

    @inlinable @inline(__always)
    package func lanes(_ p: inout Lanes, _ g: Lanes, _ s0: inout Lanes, _ s1: inout Lanes, _ s2: inout Lanes) {
        var g = g
        if l2 != 0 { g = .fma(p, l2, g) }
        s0 = lerp.apply(s0, g)                                                        // exp_avg
        s1 = Lanes.fma(oneMinusBeta2 * g, g, s1 * beta2)                              // exp_avg_sq
        var u = s0 / biasCorrection1 * lr
        // torch divides a Python float by a tensor as reciprocal, then multiply.
        if rectified { u = u * ((1 / (s1.sqrt + eps)) * biasCorrection2Sqrt) * rect }
        p = p * decay - u
    }
}
