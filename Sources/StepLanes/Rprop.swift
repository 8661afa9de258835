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
public struct Rprop: LaneFormula {
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

    @inlinable package static var stateCount: Int { 2 }

    @inlinable @inline(__always)
    package func lanes(_ p: inout Lanes, _ g: Lanes, _ s0: inout Lanes, _ s1: inout Lanes, _ s2: inout Lanes) {
        var g = g
        let prev = firstStep ? Lanes() : s0
        var size = firstStep ? Lanes(repeating: initialStep) : s1
        let product = g * prev
        // sign(g*prev) mapped as torch does: etaplus, etaminus, else 1 (a NaN product's sign is 0).
        let factor = Lanes(repeating: 1).replacing(with: etaPlus, where: product .> 0).replacing(with: etaMinus, where: product .< 0)
        size = size * factor
        size = size.replacing(with: minStep, where: size .< minStep).replacing(with: maxStep, where: size .> maxStep)
        g = g.replacing(with: 0, where: factor .== etaMinus)
        p = Lanes.fma(-g.sign, size, p)
        s0 = g                                                                        // prev
        s1 = size                                                                     // step_size
    }
}
