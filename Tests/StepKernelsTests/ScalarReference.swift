#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Per-element optimizer state for the scalar references (unused slots stay at their start value).
struct ScalarState: Sendable {
    var s0: Float
    var s1: Float
    var s2: Float
}

/// torch.optim's single-tensor formulas (`foreach=False`), written one element at a time in
/// float32 with torch's operation order, independently of the SIMD kernels:
///
/// - `a.add_(b, alpha=k)` is `a + k*b`; `a.addcmul_(b, c, value=k)` is `a + k*b*c`;
///   `a.addcdiv_(b, c, value=k)` is `a + k*(b/c)`; `a.lerp_(b, w)` is `a + w*(b-a)` for w < 0.5,
///   else `b - (b-a)*(1-w)`.
/// - Python-float scalars (lr / bias_correction1, ...) are computed in Double and rounded once to
///   Float when they meet a float32 tensor.
/// - `gradScale` is the clip coefficient / accumulation mean / maximize sign the session folds into
///   the gradient, applied first as torch's `clip_grad_norm_` (and `-grad` for maximize) would.
enum ScalarReference {
    static func lerp(_ a: Float, _ b: Float, _ w: Float) -> Float {
        w < 0.5 ? a + w * (b - a) : b - (b - a) * (1 - w)
    }

    /// torch.maximum: NaN if either side is NaN.
    static func maximum(_ a: Float, _ b: Float) -> Float {
        a.isNaN || b.isNaN ? .nan : Swift.max(a, b)
    }

    /// torch.optim.Adam / AdamW. State: s0 = exp_avg, s1 = exp_avg_sq, s2 = max_exp_avg_sq.
    static func adam(step t: Int, lr: Double, beta1: Double, beta2: Double, eps: Double, weightDecay wd: Double,
                     decoupled: Bool, amsgrad: Bool, p: inout Float, grad: Float, state s: inout ScalarState, gradScale: Float) {
        var g = grad * gradScale
        if wd != 0 {
            if decoupled { p = p * Float(1 - lr * wd) } else { g = g + Float(wd) * p }
        }
        s.s0 = lerp(s.s0, g, Float(1 - beta1))
        s.s1 = s.s1 * Float(beta2) + Float(1 - beta2) * g * g
        let biasCorrection1 = 1 - pow(beta1, Double(t))
        let biasCorrection2 = 1 - pow(beta2, Double(t))
        let stepSize = lr / biasCorrection1
        let biasCorrection2Sqrt = biasCorrection2.squareRoot()
        let second: Float
        if amsgrad {
            s.s2 = maximum(s.s2, s.s1)
            second = s.s2
        } else {
            second = s.s1
        }
        let denom = second.squareRoot() / Float(biasCorrection2Sqrt) + Float(eps)
        p = p + Float(-stepSize) * (s.s0 / denom)
    }

    /// torch.optim.SGD, with ATen's fused `add_(x, alpha=a)` (`fma(x, a, self)`). State: s0 =
    /// momentum_buffer (created as a copy of the gradient on step 1).
    static func sgd(step t: Int, lr: Double, momentum: Double, dampening: Double, weightDecay wd: Double, nesterov: Bool,
                    p: inout Float, grad: Float, state s: inout ScalarState, gradScale: Float) {
        var g = grad * gradScale
        if wd != 0 { g = g.addingProduct(p, Float(wd)) }
        if momentum != 0 {
            if t == 1 {
                s.s0 = g
            } else {
                s.s0 = (s.s0 * Float(momentum)).addingProduct(g, Float(1 - dampening))
            }
            g = nesterov ? g.addingProduct(s.s0, Float(momentum)) : s.s0
        }
        p = p.addingProduct(g, Float(-lr))
    }

    /// torch.optim.RMSprop. State: s0 = square_avg, s1 = grad_avg, s2 = momentum_buffer.
    static func rmsprop(lr: Double, alpha: Double, eps: Double, weightDecay wd: Double, momentum: Double, centered: Bool,
                        p: inout Float, grad: Float, state s: inout ScalarState, gradScale: Float) {
        var g = grad * gradScale
        if wd != 0 { g = g + Float(wd) * p }
        s.s0 = s.s0 * Float(alpha) + Float(1 - alpha) * g * g
        var avg: Float
        if centered {
            s.s1 = lerp(s.s1, g, Float(1 - alpha))
            avg = (s.s0 + Float(-1) * s.s1 * s.s1).squareRoot()
        } else {
            avg = s.s0.squareRoot()
        }
        avg = avg + Float(eps)
        if momentum > 0 {
            s.s2 = s.s2 * Float(momentum) + 1 * (g / avg)
            p = p + Float(-lr) * s.s2
        } else {
            p = p + Float(-lr) * (g / avg)
        }
    }

    /// torch.optim.Adagrad. State: s0 = sum (starts at initial_accumulator_value).
    static func adagrad(step t: Int, lr: Double, lrDecay: Double, eps: Double, weightDecay wd: Double,
                        p: inout Float, grad: Float, state s: inout ScalarState, gradScale: Float) {
        var g = grad * gradScale
        if wd != 0 { g = g + Float(wd) * p }
        let clr = lr / (1 + Double(t - 1) * lrDecay)
        s.s0 = s.s0 + 1 * g * g
        let std = s.s0.squareRoot() + Float(eps)
        p = p + Float(-clr) * (g / std)
    }
}
