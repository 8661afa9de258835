#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// torch.optim.Adafactor (single-tensor path, float32). For a tensor of rank >= 2, seen as a
/// stack of R×C matrices over its last two dimensions, the second moment is factored into one
/// number per row and per column:
///
///     w        = t ^ beta2_decay
///     row_var  = lerp(row_var, mean_c(g²), w)         col_var = lerp(col_var, mean_r(g²), w)
///     v̂        = row_var[r] * col_var[c] / max(mean_r(row_var), eps1)
///     u        = g / sqrt(max(v̂, eps1²))
///     p        = p * (1 - lr*wd) - alpha / max(1, rms(u) / d) * u
///     alpha    = max(eps2, rms(p before the step)) * min(lr, 1/sqrt(t))
///
/// A vector (or scalar) keeps a full `variance = lerp(variance, g², w)` instead. `u`'s norm
/// must be known before the parameters move, so `u` is computed twice (the same operations,
/// so the same values) rather than stored. Slots: 0 row_var, 1 col_var (rank >= 2), 2 variance
/// (rank < 2).
public struct Adafactor: Sendable {
    public let weight: Double
    @usableFromInline let lerp: LerpWeight
    @usableFromInline let eps1: Float, eps1Squared: Float
    @usableFromInline let decay: Float
    @usableFromInline let decays: Bool
    public let eps2: Double, d: Double
    /// `min(lr, 1/sqrt(t))`: alpha before the parameters' rms.
    public let rho: Double

    /// `eps1` nil is float32's machine epsilon, as torch.
    public init(lr: Double, beta2Decay: Double, eps1: Double?, eps2: Double, d: Double, weightDecay: Double, step: Int) {
        let t = Double(step)
        weight = pow(t, beta2Decay)
        lerp = LerpWeight(weight)
        let e1 = eps1 ?? Double(Float.ulpOfOne)
        self.eps1 = Float(e1)
        eps1Squared = Float(e1 * e1)
        decay = Float(1 - lr * weightDecay)
        decays = weightDecay != 0
        self.eps2 = eps2
        self.d = d
        rho = min(lr, 1 / t.squareRoot())
    }

    /// `lerp(state, new, w)` in float32, as ATen's `lerp_` with a scalar weight.
    @inlinable public func blend(_ state: Float, _ new: Float) -> Float {
        lerp.apply(Lanes(repeating: state), Lanes(repeating: new))[0]
    }

    /// The clamp of a row mean, in float32.
    @inlinable public func rowMeanFloor(_ mean: Float) -> Float { max(mean, eps1) }

    /// Rows `rows` (global row indices over the stacked matrices, each `columns` wide) of the
    /// squared gradient: per-row sums into `rowSquares[row]`, and per-column sums of these rows
    /// added into `columnSquares[0..<columns]` (the caller keeps one such buffer per split and
    /// adds them in order).
    @inlinable @inline(__always)
    package func squares<Copy: CompiledCopy>(_ t: TensorBuffers, gradScale: Float, columns: Int, rows: Range<Int>,
                                             rowSquares: UnsafeMutablePointer<Float>, columnSquares: UnsafeMutablePointer<Float>, _: Copy.Type) {
        for row in rows {
            let G = t.grads + row * columns
            var acc = Lanes()
            var c = 0
            while c < columns {
                let n = min(8, columns - c)
                let g = Lanes.load(G, c, n) * gradScale
                let sq = g * g
                acc += sq
                (Lanes.load(columnSquares, c, n) + sq).store(columnSquares, c, n)
                c += n
            }
            rowSquares[row] = acc.sum()
        }
    }

    /// The factored direction for rows `rows`: with `apply` nil, Σu² (in `updateSquares`);
    /// otherwise the parameter move with coefficient `apply`. `rowFloor[b]` is matrix b's
    /// clamped row mean.
    @inlinable @inline(__always)
    package func factored<Copy: CompiledCopy>(_ t: TensorBuffers, gradScale: Float, rowsPerMatrix: Int, columns: Int, rows: Range<Int>,
                                              rowFloor: UnsafePointer<Float>, apply: Float?, _: Copy.Type) -> UpdateStats {
        let rowVar = t.state[0]!, colVar = t.state[1]!
        var sums = SquaresAccumulator()
        var stats = StatsAccumulator()
        for row in rows {
            let matrix = row / rowsPerMatrix
            let r = rowVar[row], floor = rowFloor[matrix]
            let G = t.grads + row * columns, P = t.params + row * columns, C = colVar + matrix * columns
            var c = 0
            while c < columns {
                let n = min(8, columns - c)
                let g = Lanes.load(G, c, n) * gradScale
                var estimate = (r * Lanes.load(C, c, n)) / floor
                estimate = estimate.replacing(with: eps1Squared, where: estimate .< eps1Squared)
                let u = (1 / estimate.sqrt) * g
                if let step = apply {
                    let old = Lanes.load(P, c, n)
                    let p = Lanes.fma(u, step, decays ? old * decay : old)
                    p.store(P, c, n)
                    stats.add(old: old, new: p, valid: n)
                } else {
                    sums.add(u, Lanes(), valid: n)
                }
                c += n
            }
        }
        return apply == nil ? sums.stats : stats.stats
    }

    /// A vector's full second moment over `range`: with `apply` nil, the variance update and
    /// Σu²; otherwise the parameter move (the variance already updated).
    @inlinable @inline(__always)
    package func full<Copy: CompiledCopy>(_ t: TensorBuffers, gradScale: Float, range: Range<Int>, apply: Float?, _: Copy.Type) -> UpdateStats {
        let V = t.state[2]!
        var sums = SquaresAccumulator()
        var stats = StatsAccumulator()
        var i = range.lowerBound
        while i < range.upperBound {
            let n = min(8, range.upperBound - i)
            let g = Lanes.load(t.grads, i, n) * gradScale
            var v = Lanes.load(V, i, n)
            if apply == nil {
                v = lerp.apply(v, g * g)
                v.store(V, i, n)
            }
            let u = (1 / v.replacing(with: eps1Squared, where: v .< eps1Squared).sqrt) * g
            if let step = apply {
                let old = Lanes.load(t.params, i, n)
                let p = Lanes.fma(u, step, decays ? old * decay : old)
                p.store(t.params, i, n)
                stats.add(old: old, new: p, valid: n)
            } else {
                sums.add(u, Lanes(), valid: n)
            }
            i += n
        }
        return apply == nil ? sums.stats : stats.stats
    }
}
