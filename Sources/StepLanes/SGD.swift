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

    /// Reached through `update` (StepKernels), which picks the instruction set.
    @inlinable @inline(__always)
    package func stream<Copy: CompiledCopy>(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>,
                       momentumBuffer: UnsafeMutablePointer<Float>?, gradScale: Float, range: Range<Int>, _ copy: Copy.Type) -> UpdateStats {
        var stats = StatsAccumulator()
        var i = range.lowerBound
        while i < range.upperBound {
            let n = range.upperBound - i
            let old = Lanes.load(params, i, n)
            var p = old
            var g = Lanes.load(grads, i, n) * gradScale
            if weightDecay != 0 { g = .fma(p, weightDecay, g) }
            if momentum != 0, let momentumBuffer {
                var buf = g
                if !firstStep { buf = .fma(g, oneMinusDampening, Lanes.load(momentumBuffer, i, n) * momentum) }
                buf.store(momentumBuffer, i, n)
                g = nesterov ? .fma(buf, momentum, g) : buf
            }
            p = .fma(g, negLR, p)
            p.store(params, i, n)
            stats.add(old: old, new: p, valid: n)
            i += 8
        }
        return stats.stats
    }
}
