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
public struct ScheduleFreeAdamW: LaneFormula {
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

    @inlinable package static var stateCount: Int { 2 }

    @inlinable @inline(__always)
    package func lanes(_ p: inout Lanes, _ g: Lanes, _ s0: inout Lanes, _ s1: inout Lanes, _ s2: inout Lanes) {
        let z = firstStep ? p : s0
        s1 = Lanes.fma(oneMinusBeta2 * g, g, s1 * beta2)                              // exp_avg_sq
        var gn = g / ((s1 / biasCorrection2).sqrt + eps)
        if weightDecay != 0 { gn = .fma(p, weightDecay, gn) }
        var y = lerp.apply(p, z)
        y = .fma(gn, yStep, y)
        s0 = Lanes.fma(gn, negLR, z)                                                  // z
        p = y
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
