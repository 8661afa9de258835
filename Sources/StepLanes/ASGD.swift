/// torch.optim.ASGD: SGD with a decaying step `eta` and a running average `ax` of the iterates.
///
///     g  = g + wd*p                 (fused)
///     p  = p * (1 - lambd*eta)
///     p  = p + (-eta)*g             (fused)
///     ax = mu == 1 ? p : ax + (p - ax)*mu
///
/// `eta` and `mu` are per-group float32 scalars StepCore carries from step to step (torch keeps
/// them as 0-dim tensors). Bit for bit torch's result. Slot 0: ax.
public struct ASGD: LaneFormula {
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

    @inlinable package static var stateCount: Int { 1 }

    @inlinable @inline(__always)
    package func lanes(_ p: inout Lanes, _ g: Lanes, _ s0: inout Lanes, _ s1: inout Lanes, _ s2: inout Lanes) {
        var g = g
        if weightDecay != 0 { g = .fma(p, weightDecay, g) }
        p = Lanes.fma(g, negEta, p * decay)
        s0 = mu == 1 ? p : s0 + (p - s0) * mu                                         // ax
    }
}
