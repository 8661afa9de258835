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

    /// Reached through `update` (StepKernels), which picks the instruction set.
    @inlinable @inline(__always)
    package func stream<Copy: CompiledCopy>(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>,
                       sum: UnsafeMutablePointer<Float>, gradScale: Float, range: Range<Int>, _ copy: Copy.Type) -> UpdateStats {
        var stats = StatsAccumulator()
        var i = range.lowerBound
        while i < range.upperBound {
            let n = range.upperBound - i
            let old = Lanes.load(params, i, n)
            var p = old
            var g = Lanes.load(grads, i, n) * gradScale
            if weightDecay != 0 { g = g + weightDecay * p }
            let s = Lanes.load(sum, i, n) + g * g
            s.store(sum, i, n)
            p = p + negCLR * g / (s.sqrt + eps)
            p.store(params, i, n)
            stats.add(old: old, new: p, valid: n)
            i += 8
        }
        return stats.stats
    }
}
