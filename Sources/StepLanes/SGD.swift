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
    func lanes(_ p: inout Lanes, _ g: Lanes, _ buf: inout Lanes, gradScale: Float, decay: Bool, withMomentum: Bool) {
        var g = g * gradScale
        if decay { g = .fma(p, weightDecay, g) }
        if withMomentum {
            buf = firstStep ? g : .fma(g, oneMinusDampening, buf * momentum)
            g = nesterov ? .fma(buf, momentum, g) : buf
        }
        p = .fma(g, negLR, p)
    }

    /// Reached through `update` (StepKernels), which picks the instruction set.
    @inlinable @inline(__always)
    package func stream<Copy: CompiledCopy>(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>,
                       momentumBuffer: UnsafeMutablePointer<Float>?, gradScale: Float, range: Range<Int>, _ copy: Copy.Type) -> UpdateStats {
        // One loop per combination of weight decay and momentum, so the hot path tests neither.
        switch (weightDecay != 0, momentum != 0 ? momentumBuffer : nil) {
        case (true, let b?): run(params, grads, b, gradScale, range, FlagOn.self, FlagOn.self, copy)
        case (false, let b?): run(params, grads, b, gradScale, range, FlagOff.self, FlagOn.self, copy)
        case (true, nil): run(params, grads, params, gradScale, range, FlagOn.self, FlagOff.self, copy)
        case (false, nil): run(params, grads, params, gradScale, range, FlagOff.self, FlagOff.self, copy)
        }
    }

    /// Whole vectors first, loaded and stored without a tail test, then the tail zero-padded:
    /// every element sees the same operations as in a single loop over padded vectors.
    /// `momentumBuffer` is neither read nor written without momentum.
    @inlinable
    func run<Decay: KernelFlag, Momentum: KernelFlag, Copy: CompiledCopy>(
        _ params: UnsafeMutablePointer<Float>, _ grads: UnsafePointer<Float>, _ momentumBuffer: UnsafeMutablePointer<Float>,
        _ gradScale: Float, _ range: Range<Int>, _: Decay.Type, _: Momentum.Type, _: Copy.Type
    ) -> UpdateStats {
        let decay = Decay.isOn, withMomentum = Momentum.isOn
        let readsBuffer = withMomentum && !firstStep
        var stats = StatsAccumulator()
        var i = range.lowerBound
        let end = range.upperBound
        let P = UnsafeMutableRawPointer(params), G = UnsafeRawPointer(grads), B = UnsafeMutableRawPointer(momentumBuffer)
        while i + 8 <= end {
            let o = i * 4
            let old = P.loadUnaligned(fromByteOffset: o, as: Lanes.self)
            var p = old
            var buf = readsBuffer ? B.loadUnaligned(fromByteOffset: o, as: Lanes.self) : Lanes()
            lanes(&p, G.loadUnaligned(fromByteOffset: o, as: Lanes.self), &buf, gradScale: gradScale, decay: decay, withMomentum: withMomentum)
            if withMomentum { B.storeBytes(of: buf, toByteOffset: o, as: Lanes.self) }
            P.storeBytes(of: p, toByteOffset: o, as: Lanes.self)
            stats.add(old: old, new: p)
            i += 8
        }
        if i < end {
            let n = end - i
            let old = Lanes.load(params, i, n)
            var p = old
            var buf = readsBuffer ? Lanes.load(momentumBuffer, i, n) : Lanes()
            lanes(&p, Lanes.load(grads, i, n), &buf, gradScale: gradScale, decay: decay, withMomentum: withMomentum)
            if withMomentum { buf.store(momentumBuffer, i, n) }
            p.store(params, i, n)
            stats.add(old: old, new: p, valid: n)
        }
        return stats.stats
    }
}
