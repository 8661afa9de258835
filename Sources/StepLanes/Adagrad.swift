/// torch.optim.Adagrad: a running sum of squared gradients (started at
/// `initial_accumulator_value`) and a learning rate decayed as lr / (1 + (t-1)*lr_decay).
public struct Adagrad: Sendable {
    @usableFromInline let negCLR: Float
    @usableFromInline let eps: Float
    @usableFromInline let weightDecay: Float

    public init(lr: Double, lrDecay: Double, eps: Double, weightDecay: Double, step: Int) {
        negCLR = Float(-(lr / (1 + Double(step - 1) * lrDecay)))
        self.eps = Float(eps)
        self.weightDecay = Float(weightDecay)
    }

    /// The formula on eight lanes (`p` is the parameter before the step on entry).
    @inlinable @inline(__always)
    func lanes(_ p: inout Lanes, _ g: Lanes, _ s: inout Lanes, decay: Bool) {
        var g = g
        if decay { g = g + weightDecay * p }
        s = s + g * g
        p = p + negCLR * g / (s.sqrt + eps)
    }

    /// One loop with weight decay and one without, so the hot path tests no flag. Slot 0: sum.
    /// Reached through `update` (StepKernels), which picks the instruction set.
    @inlinable @inline(__always)
    package func stream<Copy: CompiledCopy>(_ b: LaneBuffers, gradScale: Float, range: Range<Int>, _ copy: Copy.Type) -> UpdateStats {
        weightDecay != 0 ? AdagradLanes<FlagOn>(rule: self).stream(b, gradScale: gradScale, range: range, copy)
            : AdagradLanes<FlagOff>(rule: self).stream(b, gradScale: gradScale, range: range, copy)
    }
}

/// `Adagrad` with its flag as a type, the form the shared loop runs.
@usableFromInline struct AdagradLanes<Decay: KernelFlag>: LaneFormula {
    @usableFromInline let rule: Adagrad
    @inlinable init(rule: Adagrad) { self.rule = rule }
    @inlinable static var stateCount: Int { 1 }
    @inlinable @inline(__always)
    func lanes(_ p: inout Lanes, _ g: Lanes, _ s0: inout Lanes, _ s1: inout Lanes, _ s2: inout Lanes) {
        rule.lanes(&p, g, &s0, decay: Decay.isOn)
    }
}
