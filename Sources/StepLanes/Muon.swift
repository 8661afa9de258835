/// The elementwise ends of torch.optim.Muon's step; the middle, Newton-Schulz on the momentum
/// (`NewtonSchulz`, StepKernels), is matrix products through BLAS:
///
///     buf = lerp(buf, g, 1 - momentum)
///     u   = nesterov ? lerp(g, buf, momentum) : buf
///     O   = NS(u / max(||u||, eps))
///     p   = p * (1 - lr*wd) + (-adjusted_lr) * O        (fused, as add_ with alpha)
///
/// Slot 0: momentum_buffer.
public struct Muon: Sendable {
    @usableFromInline let bufferWeight: LerpWeight
    @usableFromInline let nesterovWeight: LerpWeight
    @usableFromInline let nesterov: Bool
    @usableFromInline let decay: Float
    public let lr: Double
    public let coefficients: (a: Float, b: Float, c: Float)
    public let eps: Float
    public let steps: Int
    public let adjustment: LRAdjustment

    /// torch's `adjust_lr_fn`: how a matrix's shape scales its learning rate.
    public enum LRAdjustment: String, Sendable, CaseIterable {
        /// `sqrt(max(1, rows/cols))` (Keller Jordan's).
        case original
        /// `0.2 * sqrt(max(rows, cols))` (Moonshot's, to match AdamW's update rms).
        case matchRMSAdamW = "match_rms_adamw"
    }

    public init(lr: Double, momentum: Double, nesterov: Bool, weightDecay: Double, coefficients: (Double, Double, Double),
                eps: Double, steps: Int, adjustment: LRAdjustment) {
        bufferWeight = LerpWeight(1 - momentum)
        nesterovWeight = LerpWeight(momentum)
        self.nesterov = nesterov
        decay = Float(1 - lr * weightDecay)
        self.lr = lr
        self.coefficients = (Float(coefficients.0), Float(coefficients.1), Float(coefficients.2))
        self.eps = Float(eps)
        self.steps = steps
        self.adjustment = adjustment
    }

    /// The learning rate a `rows`×`cols` matrix steps with.
    public func adjustedLR(rows: Int, cols: Int) -> Double {
        switch adjustment {
        case .original: lr * max(1, Double(rows) / Double(cols)).squareRoot()
        case .matchRMSAdamW: lr * 0.2 * Double(max(rows, cols)).squareRoot()
        }
    }

    /// Updates the momentum over `range` and writes the update to be orthogonalized to
    /// `out[range]`; returns its sum of squares (in `updateSquares`).
    @inlinable @inline(__always)
    package func momentum<Copy: CompiledCopy>(_ t: TensorBuffers, gradScale: Float, range: Range<Int>,
                                              into out: UnsafeMutablePointer<Float>, _: Copy.Type) -> UpdateStats {
        let B = t.state[0]!
        var sums = SquaresAccumulator()
        var i = range.lowerBound
        while i < range.upperBound {
            let n = min(8, range.upperBound - i)
            let g = Lanes.load(t.grads, i, n) * gradScale
            let buf = bufferWeight.apply(Lanes.load(B, i, n), g)
            buf.store(B, i, n)
            let u = nesterov ? nesterovWeight.apply(g, buf) : buf
            u.store(out, i, n)
            sums.add(u, Lanes(), valid: n)
            i += n
        }
        return sums.stats
    }

    /// `p = p*(1 - lr*wd) + coefficient*O` over `range`.
    @inlinable @inline(__always)
    package func apply<Copy: CompiledCopy>(_ t: TensorBuffers, orthogonal: UnsafePointer<Float>, coefficient: Float,
                                           range: Range<Int>, _: Copy.Type) -> UpdateStats {
        var stats = StatsAccumulator()
        var i = range.lowerBound
        while i < range.upperBound {
            let n = min(8, range.upperBound - i)
            let old = Lanes.load(t.params, i, n)
            let p = Lanes.fma(Lanes.load(orthogonal, i, n), coefficient, old * decay)
            p.store(t.params, i, n)
            stats.add(old: old, new: p, valid: n)
            i += n
        }
        return stats.stats
    }
}
