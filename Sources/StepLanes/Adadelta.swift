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
public struct Adadelta: LaneFormula {
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

    @inlinable package static var stateCount: Int { 2 }

    @inlinable @inline(__always)
    package func lanes(_ p: inout Lanes, _ g: Lanes, _ s0: inout Lanes, _ s1: inout Lanes, _ s2: inout Lanes) {
        var g = g
        if weightDecay != 0 { g = .fma(p, weightDecay, g) }
        s0 = Lanes.fma(oneMinusRho * g, g, s0 * rho)                                  // square_avg
        let delta = (s1 + eps).sqrt / (s0 + eps).sqrt * g
        s1 = Lanes.fma(oneMinusRho * delta, delta, s1 * rho)                          // acc_delta
        p = Lanes.fma(delta, negLR, p)
    }
}
