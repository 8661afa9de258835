#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Adam and AdamW, as torch.optim.Adam/AdamW compute them (single-tensor path, float32):
///
///     p  *= 1 - lr*wd                 (AdamW; Adam instead adds wd*p to the gradient)
///     m   = m + (1-b1) * (g - m)
///     v   = v*b2 + (1-b2)*g*g
///     v̂   = max(v̂, v)                 (amsgrad)
///     p  += -lr/(1-b1^t) * m / (sqrt(v or v̂) / sqrt(1-b2^t) + eps)
///
/// Scalars are derived in float64 and rounded once to float32, as torch does with Python floats.
/// `maximize`, clipping and the accumulation mean arrive folded into one gradient scale.
public struct AdamW: Sendable {
    /// Decoupled weight decay (AdamW) or L2 added to the gradient (Adam).
    public let decoupled: Bool
    public let amsgrad: Bool
    @usableFromInline let decay: Float          // 1 - lr*wd, or 1
    @usableFromInline let l2: Float             // wd for coupled Adam, else 0
    @usableFromInline let beta2: Float
    @usableFromInline let oneMinusBeta1: Float
    @usableFromInline let oneMinusBeta2: Float
    /// 1/sqrt(1 - b2^t): a multiply instead of torch's divide (within an ulp; divides are
    /// the kernel's bottleneck on SSE).
    @usableFromInline let inverseBias2Sqrt: Float
    @usableFromInline let eps: Float
    @usableFromInline let negStepSize: Float

    /// - Parameter step: the 1-based step being taken.
    public init(lr: Double, beta1: Double, beta2: Double, eps: Double, weightDecay: Double,
                decoupled: Bool = true, amsgrad: Bool = false, step: Int) {
        self.decoupled = decoupled
        self.amsgrad = amsgrad
        decay = decoupled ? Float(1 - lr * weightDecay) : 1
        l2 = decoupled ? 0 : Float(weightDecay)
        self.beta2 = Float(beta2)
        oneMinusBeta1 = Float(1 - beta1)
        oneMinusBeta2 = Float(1 - beta2)
        let t = Double(step)
        inverseBias2Sqrt = Float(1 / (1 - pow(beta2, t)).squareRoot())
        self.eps = Float(eps)
        negStepSize = Float(-(lr / (1 - pow(beta1, t))))
    }

    /// The formula on eight lanes, free of memory so the main loop keeps everything in registers.
    /// `decoupled` and `amsgrad` are constants in each copy of the loop. The first moment uses
    /// torch's small-weight lerp form, `m + (1-b1)*(g - m)`, for every beta1 (torch switches
    /// form for beta1 <= 0.5; the results differ in the last bit at most).
    @inlinable @inline(__always)
    func lanes(_ p: inout Lanes, _ g: Lanes, _ m: inout Lanes, _ v: inout Lanes, _ vmax: inout Lanes,
               decoupled: Bool, amsgrad: Bool) {
        var g = g
        if decoupled { p = p * decay } else { g = g + l2 * p }
        m = m + oneMinusBeta1 * (g - m)
        v = v * beta2
        v = v + oneMinusBeta2 * g * g
        var second = v
        if amsgrad {
            // A lane-wise select (pointwiseMax is an out-of-line call), NaN-propagating as
            // torch.maximum is.
            vmax = vmax.replacing(with: v, where: (v .> vmax) .| (v .!= v))
            second = vmax
        }
        let denom = second.sqrt * inverseBias2Sqrt + eps
        p = p + negStepSize * m / denom
    }

    /// Updates `range` of the buffers in one pass, one specialised loop per flag combination so
    /// no flag is tested in the hot path. Slots: 0 exp_avg, 1 exp_avg_sq, 2 max_exp_avg_sq
    /// (amsgrad only). Reached through `update` (StepKernels), which picks the instruction set.
    @inlinable @inline(__always)
    package func stream<Copy: CompiledCopy>(_ b: LaneBuffers, gradScale: Float, range: Range<Int>, _ copy: Copy.Type) -> UpdateStats {
        switch (decoupled, amsgrad) {
        case (true, true): AdamWLanes<FlagOn, FlagOn>(rule: self).stream(b, gradScale: gradScale, range: range, copy)
        case (false, true): AdamWLanes<FlagOff, FlagOn>(rule: self).stream(b, gradScale: gradScale, range: range, copy)
        case (true, false): AdamWLanes<FlagOn, FlagOff>(rule: self).stream(b, gradScale: gradScale, range: range, copy)
        case (false, false): AdamWLanes<FlagOff, FlagOff>(rule: self).stream(b, gradScale: gradScale, range: range, copy)
        }
    }
}

/// `AdamW` with its flags as types, the form the shared loop runs.
@usableFromInline struct AdamWLanes<Decoupled: KernelFlag, AMSGrad: KernelFlag>: LaneFormula {
    @usableFromInline let rule: AdamW
    @inlinable init(rule: AdamW) { self.rule = rule }
    @inlinable static var stateCount: Int { AMSGrad.isOn ? 3 : 2 }
    @inlinable @inline(__always)
    func lanes(_ p: inout Lanes, _ g: Lanes, _ s0: inout Lanes, _ s1: inout Lanes, _ s2: inout Lanes) {
        rule.lanes(&p, g, &s0, &s1, &s2, decoupled: Decoupled.isOn, amsgrad: AMSGrad.isOn)
    }
}
