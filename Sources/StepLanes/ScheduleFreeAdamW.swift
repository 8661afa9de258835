/// Schedule-free AdamW (schedulefree 1.4.1, AdamWScheduleFree). The parameters a client trains
/// on are the interpolation point y; z is the base sequence; the evaluation point x, which the
/// client evaluates and ships, is `lerp(y, z, 1 - 1/b1)` (see `evalPoint`).
///
///     v  = v*b2 + (1-b2)*g*g                         (addcmul, fused)
///     gn = g / (sqrt(v / (1-b2^k)) + eps) + wd*y      (the decay fused)
///     y  = lerp(y, z, c)                             c = weight / weight_sum
///     y  = y + lr*(b1*(1-c) - 1) * gn                (fused)
///     z  = z - lr*gn                                 (fused)
///
/// z starts as a copy of the parameters on the first step. The lr warmup and the weights are
/// per-group scalars StepCore carries. Slots: 0 z, 1 exp_avg_sq.
public struct ScheduleFreeAdamW: Sendable {
    @usableFromInline let beta2: Float, oneMinusBeta2: Float
    @usableFromInline let biasCorrection2: Float
    @usableFromInline let eps: Float
    @usableFromInline let weightDecay: Float
    @usableFromInline let lerp: LerpWeight
    @usableFromInline let yStep: Float
    @usableFromInline let negLR: Float
    @usableFromInline let firstStep: Bool

    /// - Parameters:
    ///   - lr: the warmed-up learning rate of this step.
    ///   - ckp1: this step's averaging weight, weight / weight_sum.
    ///   - step: the 1-based step being taken (schedulefree's k + 1).
    public init(lr: Double, beta1: Double, beta2: Double, eps: Double, weightDecay: Double, ckp1: Double, step: Int) {
        self.beta2 = Float(beta2)
        oneMinusBeta2 = Float(1 - beta2)
        biasCorrection2 = Float(1 - pow(beta2, Double(step)))
        self.eps = Float(eps)
        self.weightDecay = Float(weightDecay)
        lerp = LerpWeight(ckp1)
        yStep = Float(lr * (beta1 * (1 - ckp1) - 1))
        negLR = Float(-lr)
        firstStep = step == 1
    }

    @inlinable @inline(__always)
    package func stream<Copy: CompiledCopy>(_ b: LaneBuffers, gradScale: Float, range: Range<Int>, _ copy: Copy.Type) -> UpdateStats {
        let zBuffer = b.s0!, expAvgSq = b.s1!
        var stats = StatsAccumulator()
        var i = range.lowerBound
        while i < range.upperBound {
            let n = range.upperBound - i
            let old = Lanes.load(b.params, i, n)
            let g = Lanes.load(b.grads, i, n) * gradScale
            let z = firstStep ? old : Lanes.load(zBuffer, i, n)
            let v = Lanes.fma(oneMinusBeta2 * g, g, Lanes.load(expAvgSq, i, n) * beta2)
            var gn = g / ((v / biasCorrection2).sqrt + eps)
            if weightDecay != 0 { gn = .fma(old, weightDecay, gn) }
            var y = lerp.apply(old, z)
            y = .fma(gn, yStep, y)
            Lanes.fma(gn, negLR, z).store(zBuffer, i, n)
            v.store(expAvgSq, i, n)
            y.store(b.params, i, n)
            stats.add(old: old, new: y, valid: n)
            i += 8
        }
        return stats.stats
    }

    /// The evaluation point x = lerp(y, z, 1 - 1/b1) of `range`, written to `out` (schedulefree's
    /// `optimizer.eval()`, computed without touching y).
    public static func evalPoint(y: UnsafePointer<Float>, z: UnsafePointer<Float>, beta1: Double,
                                 range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let lerp = LerpWeight(1 - 1 / beta1)
        var i = range.lowerBound
        while i < range.upperBound {
            let n = range.upperBound - i
            lerp.apply(Lanes.load(y, i, n), Lanes.load(z, i, n)).store(out, i - range.lowerBound, n)
            i += 8
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
