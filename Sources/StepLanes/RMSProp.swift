/// torch.optim.RMSprop: squared-gradient average, optional centering by the gradient average,
/// optional momentum buffer, weight decay added to the gradient.
public struct RMSProp: Sendable {
    @usableFromInline let negLR: Float
    @usableFromInline let alpha: Float
    @usableFromInline let oneMinusAlpha: Float
    @usableFromInline let lerpSmall: Bool
    @usableFromInline let eps: Float
    @usableFromInline let weightDecay: Float
    @usableFromInline let momentum: Float
    public let centered: Bool

    public var usesMomentum: Bool { momentum > 0 }

    public init(lr: Double, alpha: Double, eps: Double, weightDecay: Double, momentum: Double, centered: Bool) {
        negLR = Float(-lr)
        self.alpha = Float(alpha)
        oneMinusAlpha = Float(1 - alpha)
        lerpSmall = Float(1 - alpha) < 0.5
        self.eps = Float(eps)
        self.weightDecay = Float(weightDecay)
        self.momentum = Float(momentum)
        self.centered = centered
    }

    /// Reached through `update` (StepKernels), which picks the instruction set.
    @inlinable @inline(__always)
    package func stream<Copy: CompiledCopy>(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>,
                       squareAvg: UnsafeMutablePointer<Float>, gradAvg: UnsafeMutablePointer<Float>?,
                       momentumBuffer: UnsafeMutablePointer<Float>?, gradScale: Float, range: Range<Int>, _ copy: Copy.Type) -> UpdateStats {
        var stats = StatsAccumulator()
        var i = range.lowerBound
        while i < range.upperBound {
            let n = range.upperBound - i
            let old = Lanes.load(params, i, n)
            var p = old
            var g = Lanes.load(grads, i, n) * gradScale
            if weightDecay != 0 { g = g + weightDecay * p }
            var sq = Lanes.load(squareAvg, i, n) * alpha
            sq = sq + oneMinusAlpha * g * g
            sq.store(squareAvg, i, n)
            var avg: Lanes
            if centered, let gradAvg {
                var ga = Lanes.load(gradAvg, i, n)
                ga = lerpSmall ? ga + oneMinusAlpha * (g - ga) : g - (g - ga) * (1 - oneMinusAlpha)
                ga.store(gradAvg, i, n)
                avg = (sq + -1 * ga * ga).sqrt
            } else {
                avg = sq.sqrt
            }
            avg = avg + eps
            if momentum > 0, let momentumBuffer {
                let buf = Lanes.load(momentumBuffer, i, n) * momentum + g / avg
                buf.store(momentumBuffer, i, n)
                p = p + negLR * buf
            } else {
                p = p + negLR * g / avg
            }
            p.store(params, i, n)
            stats.add(old: old, new: p, valid: n)
            i += 8
        }
        return stats.stats
    }
}
