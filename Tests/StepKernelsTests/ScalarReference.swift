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
/// - What ATen computes op by op (shared/conformance/README.md, "Bit-exact cases"):
///   `a.add_(b, alpha=k)` is `fma(b, k, a)`, written `a.addingProduct(b, k)`;
///   `a.addcmul_(b, c, value=k)` is `fma(k*b, c, a)`; `a.addcdiv_(b, c, value=k)` is
///   `a + (k*b)/c`, unfused; `a.lerp_(b, w)` is `fusedLerp`. The references of SGD and of the
///   optimizers added with it (Adadelta onwards) follow these exactly, so a kernel that claims
///   torch's bits is held to the reference's bits (`KernelVariant.bitExact`).
/// - Adam, RMSprop and Adagrad keep their unfused textbook forms (`lerp` below, `a + k*b`): their
///   kernels do not fuse either and are compared within tolerance.
/// - Python-float scalars (lr / bias_correction1, ...) are computed in Double and rounded once to
///   Float when they meet a float32 tensor. `scalar / tensor` is `tensor.reciprocal() * scalar`
///   (torch's `Tensor.__rtruediv__`).
/// - Square roots are correctly rounded (torch's are not always; see the conformance README).
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

    /// ATen's `self.lerp_(end, weight)` in float32: the weight rounded to float32, then for
    /// |w| < 0.5 `fma(w, end - self, self)`, otherwise `fma(w - 1, end - self, end)`, each
    /// rounded once.
    static func fusedLerp(_ start: Float, _ end: Float, _ weight: Double) -> Float {
        let w = Float(weight)
        let d = end - start
        return abs(w) < 0.5 ? start.addingProduct(w, d) : end.addingProduct(w - 1, d)
    }

    /// torch.sign on CPU, `(0 < x) - (x < 0)`: -1, 0 or 1, and 0 for NaN (pytorch/pytorch#41245;
    /// numpy's sign would give NaN). -0 gives +0.
    static func sign(_ x: Float) -> Float {
        x > 0 ? 1 : (x < 0 ? -1 : 0)
    }

    /// torch.clamp(x, lo, hi) with lo <= hi: NaN stays NaN.
    static func clamp(_ x: Float, _ lo: Float, _ hi: Float) -> Float {
        x.isNaN ? x : Swift.min(Swift.max(x, lo), hi)
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

// The optimizers whose kernels reproduce torch's float32 operations, fused where ATen fuses them.
extension ScalarReference {
    /// torch.optim.Adadelta. State: s0 = square_avg, s1 = acc_delta.
    static func adadelta(lr: Double, rho: Double, eps: Double, weightDecay wd: Double,
                         p: inout Float, grad: Float, state s: inout ScalarState, gradScale: Float) {
        var g = grad * gradScale
        if wd != 0 { g = g.addingProduct(p, Float(wd)) }                   // grad.add(param, alpha=wd)
        s.s0 = (s.s0 * Float(rho)).addingProduct(Float(1 - rho) * g, g)    // mul_(rho).addcmul_(g, g, value=1-rho)
        let std = (s.s0 + Float(eps)).squareRoot()                         // square_avg.add(eps).sqrt_()
        var delta = (s.s1 + Float(eps)).squareRoot()                       // acc_delta.add(eps).sqrt_()
        delta = delta / std * g                                            // delta.div_(std).mul_(grad)
        s.s1 = (s.s1 * Float(rho)).addingProduct(Float(1 - rho) * delta, delta)
        p = p.addingProduct(delta, Float(-lr))                             // param.add_(delta, alpha=-lr)
    }

    /// torch.optim.Adamax. State: s0 = exp_avg, s1 = exp_inf.
    static func adamax(step t: Int, lr: Double, beta1: Double, beta2: Double, eps: Double, weightDecay wd: Double,
                       p: inout Float, grad: Float, state s: inout ScalarState, gradScale: Float) {
        var g = grad * gradScale
        if wd != 0 { g = g.addingProduct(p, Float(wd)) }
        s.s0 = fusedLerp(s.s0, g, 1 - beta1)                               // exp_avg.lerp_(grad, 1-beta1)
        s.s1 = maximum(s.s1 * Float(beta2), abs(g) + Float(eps))           // maximum(exp_inf.mul_(b2), grad.abs().add_(eps))
        let clr = lr / (1 - pow(beta1, Double(t)))
        p = p + (Float(-clr) * s.s0) / s.s1                                // param.addcdiv_(exp_avg, exp_inf, value=-clr)
    }

    /// torch.optim.NAdam. State: s0 = exp_avg, s1 = exp_avg_sq. `muProduct` is torch's float32
    /// `mu_product` after this step's `mu_product *= mu` (`nAdamMuProduct`).
    static func nAdam(step t: Int, lr: Double, beta1: Double, beta2: Double, eps: Double, weightDecay wd: Double,
                      decoupled: Bool, momentumDecay: Double, muProduct: Float,
                      p: inout Float, grad: Float, state s: inout ScalarState, gradScale: Float) {
        var g = grad * gradScale
        let biasCorrection2 = 1 - pow(beta2, Double(t))
        if wd != 0 {
            if decoupled { p = p * Float(1 - lr * wd) } else { g = g.addingProduct(p, Float(wd)) }
        }
        let mu = nAdamMomentum(beta1: beta1, momentumDecay: momentumDecay, step: t)
        let muNext = nAdamMomentum(beta1: beta1, momentumDecay: momentumDecay, step: t + 1)
        s.s0 = fusedLerp(s.s0, g, 1 - beta1)
        s.s1 = (s.s1 * Float(beta2)).addingProduct(Float(1 - beta2) * g, g)
        let denom = (s.s1 / Float(biasCorrection2)).squareRoot() + Float(eps)
        let product = Double(muProduct)                                    // _get_value(mu_product)
        let productNext = product * muNext
        p = p + (Float(-lr * (1 - mu) / (1 - product)) * g) / denom        // addcdiv_(grad, denom, value=...)
        p = p + (Float((-lr * muNext) / (1 - productNext)) * s.s0) / denom // addcdiv_(exp_avg, denom, value=...)
    }

    /// torch.optim.RAdam. State: s0 = exp_avg, s1 = exp_avg_sq.
    static func rAdam(step t: Int, lr: Double, beta1: Double, beta2: Double, eps: Double, weightDecay wd: Double,
                      decoupled: Bool, p: inout Float, grad: Float, state s: inout ScalarState, gradScale: Float) {
        var g = grad * gradScale
        if wd != 0 {
            if decoupled { p = p * Float(1 - lr * wd) } else { g = g.addingProduct(p, Float(wd)) }
        }
        s.s0 = fusedLerp(s.s0, g, 1 - beta1)
        s.s1 = (s.s1 * Float(beta2)).addingProduct(Float(1 - beta2) * g, g)
        let step = Double(t)
        let biasCorrection1 = 1 - pow(beta1, step)
        let biasCorrection2 = 1 - pow(beta2, step)
        let corrected = s.s0 / Float(biasCorrection1)                      // exp_avg / bias_correction1
        let rhoInf = 2 / (1 - beta2) - 1
        let rhoT = rhoInf - 2 * step * pow(beta2, step) / biasCorrection2
        var update = corrected * Float(lr)
        if rhoT > 5 {
            // (bias_correction2**0.5) / (sqrt(v) + eps): a Python float over a tensor, which torch
            // computes as the tensor's reciprocal times the float.
            let adaptive = (1 / (s.s1.squareRoot() + Float(eps))) * Float(pow(biasCorrection2, 0.5))
            let rect = pow((rhoT - 4) * (rhoT - 2) * rhoInf / ((rhoInf - 4) * (rhoInf - 2) * rhoT), 0.5)
            update = update * adaptive * Float(rect)
        }
        p = p.addingProduct(update, -1)                                     // param.add_(update, alpha=-1)
    }

    /// torch.optim.ASGD with the float32 `eta` and `mu` torch stored after the previous step
    /// (`asgdScalars`). State: s0 = ax.
    static func asgd(eta: Float, mu: Float, lambd: Double, weightDecay wd: Double,
                     p: inout Float, grad: Float, state s: inout ScalarState, gradScale: Float) {
        var g = grad * gradScale
        if wd != 0 { g = g.addingProduct(p, Float(wd)) }
        p = p * Float(1 - lambd * Double(eta))                             // param.mul_(1 - lambd*eta)
        p = p.addingProduct(g, -eta)                                       // param.add_(grad, alpha=-eta)
        if mu != 1 {
            s.s0 = s.s0 + (p - s.s0) * mu                                  // ax.add_(param.sub(ax).mul_(mu))
        } else {
            s.s0 = p                                                       // ax.copy_(param)
        }
    }

    /// torch.optim.Rprop. State: s0 = prev, s1 = step_size (created on step 1 as zeros and lr).
    static func rprop(step t: Int, lr: Double, etaMinus: Double, etaPlus: Double, minStep: Double, maxStep: Double,
                      p: inout Float, grad: Float, state s: inout ScalarState, gradScale: Float) {
        var g = grad * gradScale
        if t == 1 {
            s.s0 = 0
            s.s1 = Float(lr)
        }
        let direction = sign(g * s.s0)                                     // grad.mul(prev).sign()
        let factor: Float = direction > 0 ? Float(etaPlus) : (direction < 0 ? Float(etaMinus) : 1)
        s.s1 = clamp(s.s1 * factor, Float(minStep), Float(maxStep))        // step_size.mul_(sign).clamp_(min, max)
        if factor == Float(etaMinus) { g = 0 }                             // grad[sign.eq(etaminus)] = 0
        p = p.addingProduct(-1 * sign(g), s.s1)                            // param.addcmul_(grad.sign(), step_size, value=-1)
        s.s0 = g
    }

    /// Lion as lion-pytorch 0.2.5 computes it. State: s0 = exp_avg.
    static func lion(lr: Double, beta1: Double, beta2: Double, weightDecay wd: Double,
                     p: inout Float, grad: Float, state s: inout ScalarState, gradScale: Float) {
        let g = grad * gradScale
        p = p * Float(1 - lr * wd)                                         // p.data.mul_(1 - lr*wd)
        let update = sign((s.s0 * Float(beta1)).addingProduct(g, Float(1 - beta1)))
        p = p.addingProduct(update, Float(-lr))                            // p.add_(update, alpha=-lr)
        s.s0 = (s.s0 * Float(beta2)).addingProduct(g, Float(1 - beta2))    // exp_avg.mul_(b2).add_(grad, alpha=1-b2)
    }

    /// schedulefree 1.4.1 AdamWScheduleFree (its per-parameter path), step `t` = k + 1, with the
    /// warmed-up `lr` and the weight `ckp1` of `scheduleFreeScalars`. `p` is y. State: s0 = z
    /// (created on step 1 as a copy of the parameters), s1 = exp_avg_sq.
    static func scheduleFreeAdamW(step t: Int, lr: Double, beta1: Double, beta2: Double, eps: Double, weightDecay wd: Double,
                                  ckp1: Double, p: inout Float, grad: Float, state s: inout ScalarState, gradScale: Float) {
        let g = grad * gradScale
        if t == 1 { s.s0 = p }                                             // state['z'] = torch.clone(p)
        let biasCorrection2 = 1 - pow(beta2, Double(t))
        s.s1 = (s.s1 * Float(beta2)).addingProduct(Float(1 - beta2) * g, g)
        let denom = (s.s1 / Float(biasCorrection2)).squareRoot() + Float(eps)
        var normalized = g / denom                                         // grad.div_(denom)
        if wd != 0 { normalized = normalized.addingProduct(p, Float(wd)) } // add_(y, alpha=decay)
        p = fusedLerp(p, s.s0, ckp1)                                       // y.lerp_(end=z, weight=ckp1)
        p = p.addingProduct(normalized, Float(lr * (beta1 * (1 - ckp1) - 1)))
        s.s0 = s.s0.addingProduct(normalized, Float(-lr))                  // z.sub_(grad_normalized, alpha=lr)
    }
}

/// The per-group scalars torch (or the reference implementation) derives from the step count
/// and carries from step to step, as StepCore's descriptors compute them. Kernel and reference
/// of a variant get the same values from here.
extension ScalarReference {
    /// NAdam's mu_t = b1 * (1 - 0.5 * 0.96^(t * momentum_decay)).
    static func nAdamMomentum(beta1: Double, momentumDecay: Double, step: Int) -> Double {
        beta1 * (1 - 0.5 * pow(0.96, Double(step) * momentumDecay))
    }

    /// NAdam's `mu_product` after step `t`: a float32 0-dim tensor multiplied each step by the
    /// Python float mu_t, rounded to float32.
    static func nAdamMuProduct(beta1: Double, momentumDecay: Double, step t: Int) -> Float {
        var product: Float = 1
        for i in 1...t { product = product * Float(nAdamMomentum(beta1: beta1, momentumDecay: momentumDecay, step: i)) }
        return product
    }

    /// ASGD's float32 `eta` and `mu` as torch stored them after step t - 1, the values step t uses:
    /// lr and 1 on the first step, then lr / (1 + lambd*lr*(t-1))^alpha and 1 / max(1, t-1-t0).
    static func asgdScalars(lr: Double, lambd: Double, alpha: Double, t0: Double, step t: Int) -> (eta: Float, mu: Float) {
        guard t > 1 else { return (Float(lr), 1) }
        let previous = Double(t - 1)
        return (Float(lr / pow(1 + lambd * lr * previous, alpha)), Float(1 / max(1, previous - t0)))
    }

    /// Schedule-free's warmed-up lr and averaging weight ckp1 = weight / weight_sum of step t
    /// (k = t - 1), with lr_max and weight_sum carried over steps 1...t.
    static func scheduleFreeScalars(lr: Double, warmupSteps: Int, r: Double, weightLRPower: Double,
                                    step t: Int) -> (lr: Double, ckp1: Double) {
        var lrMax = -1.0, weightSum = 0.0
        var result = (lr: 0.0, ckp1: 0.0)
        for k in 0..<t {
            let scheduled = lr * (k < warmupSteps ? Double(k + 1) / Double(warmupSteps) : 1)
            lrMax = max(scheduled, lrMax)
            let weight = pow(Double(k + 1), r) * pow(lrMax, weightLRPower)
            weightSum += weight
            result = (scheduled, weightSum == 0 ? 0 : weight / weightSum)
        }
        return result
    }
}
