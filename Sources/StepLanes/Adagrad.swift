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
    func lanes(_ p: inout Lanes, _ g: Lanes, _ s: inout Lanes, gradScale: Float, decay: Bool) {
        var g = g * gradScale
        if decay { g = g + weightDecay * p }
        s = s + g * g
        p = p + negCLR * g / (s.sqrt + eps)
    }

    /// Reached through `update` (StepKernels), which picks the instruction set.
    @inlinable @inline(__always)
    package func stream<Copy: CompiledCopy>(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>,
                       sum: UnsafeMutablePointer<Float>, gradScale: Float, range: Range<Int>, _ copy: Copy.Type) -> UpdateStats {
        // One loop with weight decay and one without, so the hot path tests no flag.
        weightDecay != 0 ? run(params, grads, sum, gradScale, range, FlagOn.self, copy)
            : run(params, grads, sum, gradScale, range, FlagOff.self, copy)
    }

    /// Whole vectors first, loaded and stored without a tail test, then the tail zero-padded:
    /// every element sees the same operations as in a single loop over padded vectors.
    @inlinable
    func run<Decay: KernelFlag, Copy: CompiledCopy>(
        _ params: UnsafeMutablePointer<Float>, _ grads: UnsafePointer<Float>, _ sum: UnsafeMutablePointer<Float>,
        _ gradScale: Float, _ range: Range<Int>, _: Decay.Type, _: Copy.Type
    ) -> UpdateStats {
        let decay = Decay.isOn
        var stats = StatsAccumulator()
        var i = range.lowerBound
        let end = range.upperBound
        let P = UnsafeMutableRawPointer(params), G = UnsafeRawPointer(grads), S = UnsafeMutableRawPointer(sum)
        while i + 8 <= end {
            let o = i * 4
            let old = P.loadUnaligned(fromByteOffset: o, as: Lanes.self)
            var p = old
            var s = S.loadUnaligned(fromByteOffset: o, as: Lanes.self)
            lanes(&p, G.loadUnaligned(fromByteOffset: o, as: Lanes.self), &s, gradScale: gradScale, decay: decay)
            S.storeBytes(of: s, toByteOffset: o, as: Lanes.self)
            P.storeBytes(of: p, toByteOffset: o, as: Lanes.self)
            stats.add(old: old, new: p)
            i += 8
        }
        if i < end {
            let n = end - i
            let old = Lanes.load(params, i, n)
            var p = old, s = Lanes.load(sum, i, n)
            lanes(&p, Lanes.load(grads, i, n), &s, gradScale: gradScale, decay: decay)
            s.store(sum, i, n)
            p.store(params, i, n)
            stats.add(old: old, new: p, valid: n)
        }
        return stats.stats
    }
}
