/// torch.optim.RMSprop: squared-gradient average, optional centering by the gradient average,
/// optional momentum buffer, weight decay added to the gradient.
public struct RMSProp: Sendable {
    @usableFromInline let negLR: Float
    @usableFromInline let alpha: Float
    @usableFromInline let oneMinusAlpha: Float
    @usableFromInline let lerpSmall: Bool
    @usableFromInline let eps: Float
    @usableFromInline let weightDecay: Float
    @usableFromInline let momentum: Float
    public let centered: Bool

    public var usesMomentum: Bool { momentum > 0 }

    public init(lr: Double, alpha: Double, eps: Double, weightDecay: Double, momentum: Double, centered: Bool) {
        negLR = Float(-lr)
        self.alpha = Float(alpha)
        oneMinusAlpha = Float(1 - alpha)
        lerpSmall = Float(1 - alpha) < 0.5
        self.eps = Float(eps)
        self.weightDecay = Float(weightDecay)
        self.momentum = Float(momentum)
        self.centered = centered
    }

    /// The formula on eight lanes; `centered` and `withMomentum` are constants in each copy of
    /// the loop.
    @inlinable @inline(__always)
    func lanes(_ p: inout Lanes, _ g: Lanes, _ sq: inout Lanes, _ ga: inout Lanes, _ buf: inout Lanes,
               centered: Bool, withMomentum: Bool) {
        var g = g
        if weightDecay != 0 { g = g + weightDecay * p }
        sq = sq * alpha
        sq = sq + oneMinusAlpha * g * g
        var avg: Lanes
        if centered {
            ga = lerpSmall ? ga + oneMinusAlpha * (g - ga) : g - (g - ga) * (1 - oneMinusAlpha)
            avg = (sq + -1 * ga * ga).sqrt
        } else {
            avg = sq.sqrt
        }
        avg = avg + eps
        if withMomentum {
            buf = buf * momentum + g / avg
            p = p + negLR * buf
        } else {
            p = p + negLR * g / avg
        }
    }

    /// One loop per combination of centering and momentum. Slots: 0 square_avg, 1 grad_avg
    /// (centered), 2 momentum_buffer (momentum > 0). Reached through `update` (StepKernels),
    /// which picks the instruction set.
    @inlinable @inline(__always)
    package func stream<Copy: CompiledCopy>(_ b: LaneBuffers, gradScale: Float, range: Range<Int>, _ copy: Copy.Type) -> UpdateStats {
        switch (centered, momentum > 0) {
        case (true, true): RMSPropLanes<FlagOn, FlagOn>(rule: self).stream(b, gradScale: gradScale, range: range, copy)
        case (false, true): RMSPropLanes<FlagOff, FlagOn>(rule: self).stream(b, gradScale: gradScale, range: range, copy)
        case (true, false): RMSPropLanes<FlagOn, FlagOff>(rule: self).stream(b, gradScale: gradScale, range: range, copy)
        case (false, false): RMSPropLanes<FlagOff, FlagOff>(rule: self).stream(b, gradScale: gradScale, range: range, copy)
        }
    }
}

/// `RMSProp` with its flags as types, the form the shared loop runs.
@usableFromInline struct RMSPropLanes<Centered: KernelFlag, Momentum: KernelFlag>: LaneFormula {
    @usableFromInline let rule: RMSProp
    @inlinable init(rule: RMSProp) { self.rule = rule }
    @inlinable static var stateCount: Int { 3 }
    @inlinable static func uses(_ k: Int) -> Bool { k == 0 || (k == 1 && Centered.isOn) || (k == 2 && Momentum.isOn) }
    @inlinable @inline(__always)
    func lanes(_ p: inout Lanes, _ g: Lanes, _ s0: inout Lanes, _ s1: inout Lanes, _ s2: inout Lanes) {
        rule.lanes(&p, g, &s0, &s1, &s2, centered: Centered.isOn, withMomentum: Momentum.isOn)
    }
}
