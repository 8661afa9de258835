#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// LAMB as optax.lamb computes it: Adam's bias-corrected direction plus decoupled weight decay,
/// scaled per tensor by the trust ratio ||p|| / ||u|| (1 where either norm is 0):
///
///     m = (1-b1)*g + b1*m
///     v = (1-b2)*g*g + b2*v
///     u = (m / (1-b1^t)) / (sqrt(v / (1-b2^t) + eps_root) + eps) + wd*p
///     p = p + (u * ratio) * (-lr)
///
/// The ratio needs the whole tensor's ||u|| before any parameter moves, so a step is two
/// passes: `moments` updates m and v and sums u² and p²; `apply` computes u again from the new
/// moments (the same operations, so the same values) and moves the parameters. No buffer of u
/// is kept. Slots: 0 exp_avg (optax's mu), 1 exp_avg_sq (nu).
public struct Lamb: Sendable {
    @usableFromInline let beta1: Float, oneMinusBeta1: Float
    @usableFromInline let beta2: Float, oneMinusBeta2: Float
    @usableFromInline let bias1: Float, bias2: Float
    @usableFromInline let eps: Float, epsRoot: Float
    @usableFromInline let weightDecay: Float
    public let negLR: Float

    /// Powers are taken in float32, as optax takes `decay ** count` on an int32 count.
    public init(lr: Double, beta1: Double, beta2: Double, eps: Double, epsRoot: Double, weightDecay: Double, step: Int) {
        self.beta1 = Float(beta1)
        oneMinusBeta1 = Float(1 - beta1)
        self.beta2 = Float(beta2)
        oneMinusBeta2 = Float(1 - beta2)
        bias1 = 1 - powf(Float(beta1), Float(step))
        bias2 = 1 - powf(Float(beta2), Float(step))
        self.eps = Float(eps)
        self.epsRoot = Float(epsRoot)
        self.weightDecay = Float(weightDecay)
        negLR = Float(-lr)
    }

    @inlinable @inline(__always)
    func direction(_ p: Lanes, _ m: Lanes, _ v: Lanes) -> Lanes {
        (m / bias1) / ((v / bias2 + epsRoot).sqrt + eps) + weightDecay * p
    }

    /// First pass over `range`: moments, and Σu² (`updateSquares`) and Σp² (`paramSquares`).
    @inlinable @inline(__always)
    package func moments<Copy: CompiledCopy>(_ t: TensorBuffers, gradScale: Float, range: Range<Int>, _: Copy.Type) -> UpdateStats {
        let P = t.params, G = t.grads, M = t.state[0]!, V = t.state[1]!
        var sums = SquaresAccumulator()
        var i = range.lowerBound
        while i < range.upperBound {
            let n = min(8, range.upperBound - i)
            let g = Lanes.load(G, i, n) * gradScale, p = Lanes.load(P, i, n)
            let m = oneMinusBeta1 * g + beta1 * Lanes.load(M, i, n)
            let v = oneMinusBeta2 * (g * g) + beta2 * Lanes.load(V, i, n)
            m.store(M, i, n)
            v.store(V, i, n)
            sums.add(direction(p, m, v), p, valid: n)
            i += n
        }
        return sums.stats
    }

    /// Second pass over `range`: the parameter move, with the tensor's trust ratio.
    @inlinable @inline(__always)
    package func apply<Copy: CompiledCopy>(_ t: TensorBuffers, ratio: Float, range: Range<Int>, _: Copy.Type) -> UpdateStats {
        let P = t.params, M = t.state[0]!, V = t.state[1]!
        var stats = StatsAccumulator()
        var i = range.lowerBound
        while i < range.upperBound {
            let n = min(8, range.upperBound - i)
            let old = Lanes.load(P, i, n)
            let p = old + (direction(old, Lanes.load(M, i, n), Lanes.load(V, i, n)) * ratio) * negLR
            p.store(P, i, n)
            stats.add(old: old, new: p, valid: n)
            i += n
        }
        return stats.stats
    }
}
