/// Lion (lion-pytorch 0.2.5), the sign of an interpolated momentum:
///
///     p = p * (1 - lr*wd)
///     p = p + (-lr) * sign(b1*m + (1-b1)*g)     (the inner sum fused, as torch's add_ with alpha)
///     m = b2*m + (1-b2)*g                       (fused)
///
/// Bit for bit lion-pytorch's result. Slot 0: exp_avg.
public struct Lion: LaneFormula {
    @usableFromInline let decay: Float
    @usableFromInline let negLR: Float
    @usableFromInline let beta1: Float, oneMinusBeta1: Float
    @usableFromInline let beta2: Float, oneMinusBeta2: Float

    /// - Parameter weightDecay: as lion-pytorch applies it (already divided by the initial lr
    ///   when its `decoupled_weight_decay` is on).
    public init(lr: Double, beta1: Double, beta2: Double, weightDecay: Double) {
        decay = Float(1 - lr * weightDecay)
        negLR = Float(-lr)
        self.beta1 = Float(beta1)
        oneMinusBeta1 = Float(1 - beta1)
        self.beta2 = Float(beta2)
        oneMinusBeta2 = Float(1 - beta2)
    }

    @inlinable package static var stateCount: Int { 1 }

    @inlinable @inline(__always)
    package func lanes(_ p: inout Lanes, _ g: Lanes, _ s0: inout Lanes, _ s1: inout Lanes, _ s2: inout Lanes) {
        let direction = Lanes.fma(g, oneMinusBeta1, s0 * beta1).sign
        p = Lanes.fma(direction, negLR, p * decay)
        s0 = Lanes.fma(g, oneMinusBeta2, s0 * beta2)                                  // exp_avg
    }
}
