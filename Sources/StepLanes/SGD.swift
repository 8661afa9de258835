/// torch.optim.SGD: weight decay added to the gradient, momentum with dampening, Nesterov.
/// The first step with momentum copies the gradient into the buffer without dampening, as torch
/// does when the buffer does not exist yet. Every `add_(x, alpha=a)` of torch's is one fused
/// multiply-add here, as ATen computes it, so the result is torch's to the bit. Slot 0: momentum_buffer.
public struct SGD: Sendable {
    @usableFromInline let negLR: Float
    @usableFromInline let weightDecay: Float
    @usableFromInline let momentum: Float
    @usableFromInline let oneMinusDampening: Float
    @usableFromInline let nesterov: Bool
    @usableFromInline let firstStep: Bool

    public var usesMomentum: Bool { momentum != 0 }

    public init(lr: Double, momentum: Double, dampening: Double, weightDecay: Double, nesterov: Bool, step: Int) {
        negLR = Float(-lr)
        self.weightDecay = Float(weightDecay)
        self.momentum = Float(momentum)
        oneMinusDampening = Float(1 - dampening)
        self.nesterov = nesterov
        firstStep = step == 1
    }

    /// The formula on eight lanes. `buf` holds the momentum buffer on entry (unless this is the
    /// first step) and its new value on return.
    @inlinable @inline(__always)
    func lanes(_ p: inout Lanes, _ g: Lanes, _ buf: inout Lanes, decay: Bool, withMomentum: Bool) {
        var g = g
        if decay { g = .fma(p, weightDecay, g) }
        if withMomentum {
            buf = firstStep ? g : .fma(g, oneMinusDampening, buf * momentum)
            g = nesterov ? .fma(buf, momentum, g) : buf
        }
        p = .fma(g, negLR, p)
    }

    /// One loop per combination of weight decay and momentum, so the hot path tests neither;
    /// without momentum the buffer is neither read nor written. Reached through `update`
    /// (StepKernels), which picks the instruction set.
    @inlinable @inline(__always)
    package func stream<Copy: CompiledCopy>(_ b: LaneBuffers, gradScale: Float, range: Range<Int>, _ copy: Copy.Type) -> UpdateStats {
        switch (weightDecay != 0, momentum != 0) {
        case (true, true): SGDLanes<FlagOn, FlagOn>(rule: self).stream(b, gradScale: gradScale, range: range, copy)
        case (false, true): SGDLanes<FlagOff, FlagOn>(rule: self).stream(b, gradScale: gradScale, range: range, copy)
        case (true, false): SGDLanes<FlagOn, FlagOff>(rule: self).stream(b, gradScale: gradScale, range: range, copy)
        case (false, false): SGDLanes<FlagOff, FlagOff>(rule: self).stream(b, gradScale: gradScale, range: range, copy)
        }
    }
}

/// `SGD` with its flags as types, the form the shared loop runs.
@usableFromInline struct SGDLanes<Decay: KernelFlag, Momentum: KernelFlag>: LaneFormula {
    @usableFromInline let rule: SGD
    @inlinable init(rule: SGD) { self.rule = rule }
    @inlinable static var stateCount: Int { Momentum.isOn ? 1 : 0 }
    @inlinable @inline(__always)
    func lanes(_ p: inout Lanes, _ g: Lanes, _ s0: inout Lanes, _ s1: inout Lanes, _ s2: inout Lanes) {
        rule.lanes(&p, g, &s0, decay: Decay.isOn, withMomentum: Momentum.isOn)
    }
}
