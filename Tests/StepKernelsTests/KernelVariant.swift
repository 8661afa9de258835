import StepKernels
import Testing

/// One optimizer configuration under test: how to run its SIMD kernel over a range, and the
/// scalar torch formula it must agree with. State buffers are positional (see `ScalarState`).
/// `isa` picks which compiled copy of the kernel runs.
struct KernelVariant: Sendable, CustomTestStringConvertible {
    typealias Kernel = @Sendable (_ step: Int, _ params: UnsafeMutablePointer<Float>, _ grads: UnsafePointer<Float>,
                                  _ state: [UnsafeMutablePointer<Float>], _ gradScale: Float, _ range: Range<Int>,
                                  _ isa: InstructionSet) -> UpdateStats
    typealias Reference = @Sendable (_ step: Int, _ p: inout Float, _ g: Float, _ s: inout ScalarState, _ gradScale: Float) -> Void

    var name: String
    /// How many state buffers the kernel touches (s0, s1, s2 in that order).
    let stateCount: Int
    /// Start value of every state buffer (Adagrad's initial_accumulator_value).
    let initialState: Float
    let kernel: Kernel
    let reference: Reference
    var isa = InstructionSet.portable

    var testDescription: String { name }

    /// The same variant run on another compiled copy of the kernel.
    func on(_ isa: InstructionSet) -> KernelVariant {
        var v = self
        v.isa = isa
        v.name = "\(name) [\(isa)]"
        return v
    }

    /// Every variant on every copy this CPU runs.
    static func onEveryInstructionSet(_ variants: [KernelVariant]) -> [KernelVariant] {
        variants.flatMap { v in InstructionSet.runnable.map(v.on) }
    }
}

extension KernelVariant {
    static func adam(_ name: String, lr: Double = 1e-2, beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8,
                     weightDecay: Double, decoupled: Bool, amsgrad: Bool) -> KernelVariant {
        KernelVariant(name: name, stateCount: amsgrad ? 3 : 2, initialState: 0, kernel: { step, p, g, s, scale, range, isa in
            LaneRule.adamW(AdamW(lr: lr, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay, decoupled: decoupled,
                                 amsgrad: amsgrad, step: step))
                .update(LaneBuffers(params: p, grads: g, state: [s[0], s[1], amsgrad ? s[2] : nil]), gradScale: scale, range: range, on: isa)
        }, reference: { step, p, g, s, scale in
            ScalarReference.adam(step: step, lr: lr, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay,
                                 decoupled: decoupled, amsgrad: amsgrad, p: &p, grad: g, state: &s, gradScale: scale)
        })
    }

    static func sgd(_ name: String, lr: Double = 0.05, momentum: Double = 0, dampening: Double = 0,
                    weightDecay: Double = 0, nesterov: Bool = false) -> KernelVariant {
        KernelVariant(name: name, stateCount: 1, initialState: 0, kernel: { step, p, g, s, scale, range, isa in
            let k = SGD(lr: lr, momentum: momentum, dampening: dampening, weightDecay: weightDecay, nesterov: nesterov, step: step)
            return LaneRule.sgd(k).update(LaneBuffers(params: p, grads: g, state: [k.usesMomentum ? s[0] : nil]), gradScale: scale, range: range, on: isa)
        }, reference: { step, p, g, s, scale in
            ScalarReference.sgd(step: step, lr: lr, momentum: momentum, dampening: dampening, weightDecay: weightDecay,
                                nesterov: nesterov, p: &p, grad: g, state: &s, gradScale: scale)
        })
    }

    static func rmsprop(_ name: String, lr: Double = 1e-2, alpha: Double = 0.99, eps: Double = 1e-8, weightDecay: Double = 0,
                        momentum: Double = 0, centered: Bool = false) -> KernelVariant {
        KernelVariant(name: name, stateCount: 3, initialState: 0, kernel: { _, p, g, s, scale, range, isa in
            let k = RMSProp(lr: lr, alpha: alpha, eps: eps, weightDecay: weightDecay, momentum: momentum, centered: centered)
            return LaneRule.rmsProp(k).update(LaneBuffers(params: p, grads: g, state: [s[0], centered ? s[1] : nil, k.usesMomentum ? s[2] : nil]),
                                              gradScale: scale, range: range, on: isa)
        }, reference: { _, p, g, s, scale in
            ScalarReference.rmsprop(lr: lr, alpha: alpha, eps: eps, weightDecay: weightDecay, momentum: momentum,
                                    centered: centered, p: &p, grad: g, state: &s, gradScale: scale)
        })
    }

    static func adagrad(_ name: String, lr: Double = 5e-2, lrDecay: Double = 0, eps: Double = 1e-10, weightDecay: Double = 0,
                        initialAccumulator: Float = 0) -> KernelVariant {
        KernelVariant(name: name, stateCount: 1, initialState: initialAccumulator, kernel: { step, p, g, s, scale, range, isa in
            LaneRule.adagrad(Adagrad(lr: lr, lrDecay: lrDecay, eps: eps, weightDecay: weightDecay, step: step))
                .update(LaneBuffers(params: p, grads: g, state: [s[0]]), gradScale: scale, range: range, on: isa)
        }, reference: { step, p, g, s, scale in
            ScalarReference.adagrad(step: step, lr: lr, lrDecay: lrDecay, eps: eps, weightDecay: weightDecay,
                                    p: &p, grad: g, state: &s, gradScale: scale)
        })
    }
}

/// The lengths every kernel runs at: empty, a single element, one short of / exactly / one past a
/// SIMD8 vector, a long odd tail, and over a million (several fixed chunks and thread splits).
enum KernelLengths {
    static let all = small + [large]
    /// Every length but the million, which kernel tests run separately (with fewer steps).
    static let small = [0, 1, 7, 8, 9, 1023]
    static let large = 1_000_003
}
