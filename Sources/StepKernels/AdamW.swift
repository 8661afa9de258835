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
    public var decoupled: Bool
    public var amsgrad: Bool
    let decay: Float          // 1 - lr*wd, or 1
    let l2: Float             // wd for coupled Adam, else 0
    let beta2: Float
    let oneMinusBeta1: Float
    let oneMinusBeta2: Float
    let lerpSmall: Bool
    /// 1/sqrt(1 - b2^t): a multiply instead of torch's divide (within an ulp; divides are
    /// the kernel's bottleneck on SSE).
    let inverseBias2Sqrt: Float
    let eps: Float
    let negStepSize: Float

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
        lerpSmall = oneMinusBeta1 < 0.5
        let t = Double(step)
        inverseBias2Sqrt = Float(1 / (1 - pow(beta2, t)).squareRoot())
        self.eps = Float(eps)
        negStepSize = Float(-(lr / (1 - pow(beta1, t))))
    }

    /// Updates `range` of the session's buffers in one pass. `maxExpAvgSq` is used only with amsgrad.
    public func update(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>,
                       expAvg: UnsafeMutablePointer<Float>, expAvgSq: UnsafeMutablePointer<Float>,
                       maxExpAvgSq: UnsafeMutablePointer<Float>?, gradScale: Float, range: Range<Int>) -> UpdateStats {
        var stats = StatsAccumulator()
        var i = range.lowerBound
        while i < range.upperBound {
            let n = range.upperBound - i
            let old = Lanes.load(params, i, n)
            var p = old
            var g = Lanes.load(grads, i, n) * gradScale
            if decoupled { p = p * decay } else { g = g + l2 * p }
            var m = Lanes.load(expAvg, i, n)
            m = lerpSmall ? m + oneMinusBeta1 * (g - m) : g - (g - m) * (1 - oneMinusBeta1)
            var v = Lanes.load(expAvgSq, i, n) * beta2
            v = v + oneMinusBeta2 * g * g
            var second = v
            if amsgrad, let maxExpAvgSq {
                // NaN-propagating, as torch.maximum is (pointwiseMax keeps the old value).
                second = pointwiseMax(Lanes.load(maxExpAvgSq, i, n), v).replacing(with: v, where: v .!= v)
                second.store(maxExpAvgSq, i, n)
            }
            let denom = second.sqrt * inverseBias2Sqrt + eps
            p = p + negStepSize * m / denom
            p.store(params, i, n)
            stats.add(old: old, new: p, valid: n)
            m.store(expAvg, i, n)
            v.store(expAvgSq, i, n)
            i += 8
        }
        return stats.stats
    }
}
