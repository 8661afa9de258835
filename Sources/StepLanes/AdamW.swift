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
               gradScale: Float, decoupled: Bool, amsgrad: Bool) {
        var g = g * gradScale
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

    /// Updates `range` of the session's buffers in one pass. `maxExpAvgSq` is used only with amsgrad.
    /// Reached through `update` (StepKernels), which picks the instruction set.
    @inlinable @inline(__always)
    package func stream<Copy: CompiledCopy>(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>,
                       expAvg: UnsafeMutablePointer<Float>, expAvgSq: UnsafeMutablePointer<Float>,
                       maxExpAvgSq: UnsafeMutablePointer<Float>?, gradScale: Float, range: Range<Int>, _ copy: Copy.Type) -> UpdateStats {
        let vmaxBuffer = amsgrad ? maxExpAvgSq : nil
        // One copy of the loop per flag combination, so no flag is tested in the hot path.
        // Generic flags make the compiler emit one specialised loop per combination.
        switch (decoupled, vmaxBuffer) {
        case (true, let x?): return run(params, grads, expAvg, expAvgSq, x, gradScale, range, FlagOn.self, FlagOn.self, copy)
        case (false, let x?): return run(params, grads, expAvg, expAvgSq, x, gradScale, range, FlagOff.self, FlagOn.self, copy)
        case (true, nil): return run(params, grads, expAvg, expAvgSq, expAvgSq, gradScale, range, FlagOn.self, FlagOff.self, copy)
        case (false, nil): return run(params, grads, expAvg, expAvgSq, expAvgSq, gradScale, range, FlagOff.self, FlagOff.self, copy)
        }
    }

    @inlinable @inline(__always)
    func run<Decoupled: KernelFlag, AMSGrad: KernelFlag, Copy: CompiledCopy>(
        _ params: UnsafeMutablePointer<Float>, _ grads: UnsafePointer<Float>, _ expAvg: UnsafeMutablePointer<Float>,
        _ expAvgSq: UnsafeMutablePointer<Float>, _ vmaxBuffer: UnsafeMutablePointer<Float>,
        _ gradScale: Float, _ range: Range<Int>, _: Decoupled.Type, _: AMSGrad.Type, _: Copy.Type
    ) -> UpdateStats {
        let decoupled = Decoupled.isOn, amsgrad = AMSGrad.isOn
        var stats = StatsAccumulator()
        var i = range.lowerBound
        let end = range.upperBound
        let P = UnsafeMutableRawPointer(params), G = UnsafeRawPointer(grads)
        let M = UnsafeMutableRawPointer(expAvg), V = UnsafeMutableRawPointer(expAvgSq), X = UnsafeMutableRawPointer(vmaxBuffer)
        while i + 8 <= end {
            let o = i * 4
            let old = P.loadUnaligned(fromByteOffset: o, as: Lanes.self)
            var p = old
            var m = M.loadUnaligned(fromByteOffset: o, as: Lanes.self)
            var v = V.loadUnaligned(fromByteOffset: o, as: Lanes.self)
            var x = amsgrad ? X.loadUnaligned(fromByteOffset: o, as: Lanes.self) : Lanes()
            lanes(&p, G.loadUnaligned(fromByteOffset: o, as: Lanes.self), &m, &v, &x, gradScale: gradScale, decoupled: decoupled, amsgrad: amsgrad)
            P.storeBytes(of: p, toByteOffset: o, as: Lanes.self)
            M.storeBytes(of: m, toByteOffset: o, as: Lanes.self)
            V.storeBytes(of: v, toByteOffset: o, as: Lanes.self)
            if amsgrad { X.storeBytes(of: x, toByteOffset: o, as: Lanes.self) }
            stats.add(old: old, new: p)
            i += 8
        }
        if i < end {
            let n = end - i
            let old = Lanes.load(params, i, n)
            var p = old, m = Lanes.load(expAvg, i, n), v = Lanes.load(expAvgSq, i, n)
            var x = amsgrad ? Lanes.load(vmaxBuffer, i, n) : Lanes()
            lanes(&p, Lanes.load(grads, i, n), &m, &v, &x, gradScale: gradScale, decoupled: decoupled, amsgrad: amsgrad)
            p.store(params, i, n)
            m.store(expAvg, i, n)
            v.store(expAvgSq, i, n)
            if amsgrad { x.store(vmaxBuffer, i, n) }
            stats.add(old: old, new: p, valid: n)
        }
        return stats.stats
    }
}
