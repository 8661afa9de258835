/// torch.optim.Rprop: a per-element step size grown by etaplus while the gradient keeps its sign
/// and cut by etaminus when it flips (and that step skipped), clamped to [min, max]; only the
/// gradient's sign moves the parameter.
///
///     s    = sign(g * prev) -> etaplus / etaminus / 1
///     size = clamp(size * s, min, max)
///     g    = s == etaminus ? 0 : g
///     p    = p + (-sign(g)) * size      (fused)
///     prev = g
///
/// torch creates `step_size` filled with lr on the first step and never reads lr again; the
/// first step here does the same. Bit for bit torch's result. Slots: 0 prev, 1 step_size.
public struct Rprop: Sendable {
    @usableFromInline let etaMinus: Float, etaPlus: Float
    @usableFromInline let minStep: Float, maxStep: Float
    @usableFromInline let firstStep: Bool
    @usableFromInline let initialStep: Float

    public init(lr: Double, etaMinus: Double, etaPlus: Double, minStep: Double, maxStep: Double, step: Int) {
        self.etaMinus = Float(etaMinus)
        self.etaPlus = Float(etaPlus)
        self.minStep = Float(minStep)
        self.maxStep = Float(maxStep)
        firstStep = step == 1
        initialStep = Float(lr)
    }

    @inlinable @inline(__always)
    package func stream<Copy: CompiledCopy>(_ b: LaneBuffers, gradScale: Float, range: Range<Int>, _ copy: Copy.Type) -> UpdateStats {
        let prevBuffer = b.s0!, sizeBuffer = b.s1!
        var stats = StatsAccumulator()
        var i = range.lowerBound
        while i < range.upperBound {
            let n = range.upperBound - i
            let old = Lanes.load(b.params, i, n)
            var g = Lanes.load(b.grads, i, n) * gradScale
            let prev = firstStep ? Lanes() : Lanes.load(prevBuffer, i, n)
            var size = firstStep ? Lanes(repeating: initialStep) : Lanes.load(sizeBuffer, i, n)
            let product = g * prev
            // sign(g*prev) mapped as torch does: etaplus, etaminus, else 1 (a NaN product's sign is 0).
            let factor = Lanes(repeating: 1).replacing(with: etaPlus, where: product .> 0).replacing(with: etaMinus, where: product .< 0)
            size = size * factor
            size = size.replacing(with: minStep, where: size .< minStep).replacing(with: maxStep, where: size .> maxStep)
            g = g.replacing(with: 0, where: factor .== etaMinus)
            let p = Lanes.fma(-g.sign, size, old)
            size.store(sizeBuffer, i, n)
            g.store(prevBuffer, i, n)
            p.store(b.params, i, n)
            stats.add(old: old, new: p, valid: n)
            i += 8
        }
        return stats.stats
    }
}
