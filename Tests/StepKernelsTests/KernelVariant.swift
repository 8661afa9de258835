import StepKernels
import Testing

/// One optimizer configuration under test: how to run its SIMD kernel over a range, and the
/// scalar torch formula it must agree with. State buffers are positional (see `ScalarState`).
/// `isa` picks which compiled copy of the kernel runs.
struct KernelVariant: Sendable, CustomTestStringConvertible {
    /// The rule of step `step` (1-based); the harness runs it over buffers of any state dtype.
    typealias Rule = @Sendable (_ step: Int) -> LaneRule
    typealias Reference = @Sendable (_ step: Int, _ p: inout Float, _ g: Float, _ s: inout ScalarState, _ gradScale: Float) -> Void

    var name: String
    /// How many state buffers the kernel touches (s0, s1, s2 in that order).
    let stateCount: Int
    /// Start value of every state buffer (Adagrad's initial_accumulator_value).
    let initialState: Float
    let rule: Rule
    let reference: Reference
    /// The kernel performs the reference's float32 operations in the reference's order, fused
    /// where ATen fuses them, so it must give the reference's bits, not just agree within
    /// tolerance (`KernelChecks.matchesReference`).
    var bitExact = false
    /// Only the gradient's sign reaches the parameter (Rprop, Lion): an infinite gradient moves it
    /// by a finite step, as in torch (`KernelChecks.nonFiniteStaysLocal`).
    var signOnly = false
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
        KernelVariant(name: name, stateCount: amsgrad ? 3 : 2, initialState: 0, rule: { step in
            LaneRule.adamW(AdamW(lr: lr, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay, decoupled: decoupled,
                                 amsgrad: amsgrad, step: step))
        }, reference: { step, p, g, s, scale in
            ScalarReference.adam(step: step, lr: lr, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay,
                                 decoupled: decoupled, amsgrad: amsgrad, p: &p, grad: g, state: &s, gradScale: scale)
        })
    }

    static func sgd(_ name: String, lr: Double = 0.05, momentum: Double = 0, dampening: Double = 0,
                    weightDecay: Double = 0, nesterov: Bool = false) -> KernelVariant {
        KernelVariant(name: name, stateCount: 1, initialState: 0, rule: { step in
            let k = SGD(lr: lr, momentum: momentum, dampening: dampening, weightDecay: weightDecay, nesterov: nesterov, step: step)
            return LaneRule.sgd(k)
        }, reference: { step, p, g, s, scale in
            ScalarReference.sgd(step: step, lr: lr, momentum: momentum, dampening: dampening, weightDecay: weightDecay,
                                nesterov: nesterov, p: &p, grad: g, state: &s, gradScale: scale)
        }, bitExact: true)
    }

    static func rmsprop(_ name: String, lr: Double = 1e-2, alpha: Double = 0.99, eps: Double = 1e-8, weightDecay: Double = 0,
                        momentum: Double = 0, centered: Bool = false) -> KernelVariant {
        KernelVariant(name: name, stateCount: 3, initialState: 0, rule: { _ in
            let k = RMSProp(lr: lr, alpha: alpha, eps: eps, weightDecay: weightDecay, momentum: momentum, centered: centered)
            return LaneRule.rmsProp(k)
        }, reference: { _, p, g, s, scale in
            ScalarReference.rmsprop(lr: lr, alpha: alpha, eps: eps, weightDecay: weightDecay, momentum: momentum,
                                    centered: centered, p: &p, grad: g, state: &s, gradScale: scale)
        })
    }

    static func adagrad(_ name: String, lr: Double = 5e-2, lrDecay: Double = 0, eps: Double = 1e-10, weightDecay: Double = 0,
                        initialAccumulator: Float = 0) -> KernelVariant {
        KernelVariant(name: name, stateCount: 1, initialState: initialAccumulator, rule: { step in
            LaneRule.adagrad(Adagrad(lr: lr, lrDecay: lrDecay, eps: eps, weightDecay: weightDecay, step: step))
        }, reference: { step, p, g, s, scale in
            ScalarReference.adagrad(step: step, lr: lr, lrDecay: lrDecay, eps: eps, weightDecay: weightDecay,
                                    p: &p, grad: g, state: &s, gradScale: scale)
        })
    }
}

// The optimizers added with the descriptors. Each kernel gets its scalars as StepCore's descriptor
// (Sources/StepCore/Optimizers) would derive them for the step; the reference gets the same
// values. `fromStep` makes the harness's first step that step of the optimizer (with fresh
// state), to reach branches that only later steps take.
extension KernelVariant {
    static func adadelta(_ name: String, lr: Double = 1.0, rho: Double = 0.9, eps: Double = 1e-6,
                         weightDecay: Double = 0) -> KernelVariant {
        KernelVariant(name: name, stateCount: 2, initialState: 0, rule: { _ in
            LaneRule.adadelta(Adadelta(lr: lr, rho: rho, eps: eps, weightDecay: weightDecay))
        }, reference: { _, p, g, s, scale in
            ScalarReference.adadelta(lr: lr, rho: rho, eps: eps, weightDecay: weightDecay, p: &p, grad: g, state: &s, gradScale: scale)
        }, bitExact: true)
    }

    static func adamax(_ name: String, lr: Double = 2e-3, beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8,
                       weightDecay: Double = 0) -> KernelVariant {
        KernelVariant(name: name, stateCount: 2, initialState: 0, rule: { step in
            LaneRule.adamax(Adamax(lr: lr, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay, step: step))
        }, reference: { step, p, g, s, scale in
            ScalarReference.adamax(step: step, lr: lr, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay,
                                   p: &p, grad: g, state: &s, gradScale: scale)
        }, bitExact: true)
    }

    static func nAdam(_ name: String, lr: Double = 2e-3, beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8,
                      weightDecay: Double = 0, momentumDecay: Double = 4e-3, decoupled: Bool = false) -> KernelVariant {
        let muProduct = StepTable { ScalarReference.nAdamMuProduct(beta1: beta1, momentumDecay: momentumDecay, step: $0) }
        return KernelVariant(name: name, stateCount: 2, initialState: 0, rule: { step in
            let mu = ScalarReference.nAdamMomentum(beta1: beta1, momentumDecay: momentumDecay, step: step)
            let muNext = ScalarReference.nAdamMomentum(beta1: beta1, momentumDecay: momentumDecay, step: step + 1)
            return LaneRule.nAdam(NAdam(lr: lr, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay, decoupled: decoupled,
                                        mu: mu, muNext: muNext, muProduct: Double(muProduct[step]), step: step))
        }, reference: { step, p, g, s, scale in
            ScalarReference.nAdam(step: step, lr: lr, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay,
                                  decoupled: decoupled, momentumDecay: momentumDecay, muProduct: muProduct[step],
                                  p: &p, grad: g, state: &s, gradScale: scale)
        }, bitExact: true)
    }

    /// Bit-exact against the reference, which (like the kernel) takes a correctly rounded square
    /// root: torch's own is not, so torch itself is matched within tolerance.
    static func rAdam(_ name: String, lr: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8,
                      weightDecay: Double = 0, decoupled: Bool = false, fromStep: Int = 1) -> KernelVariant {
        KernelVariant(name: name, stateCount: 2, initialState: 0, rule: { step in
            LaneRule.rAdam(RAdam(lr: lr, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay, decoupled: decoupled,
                                 step: step + fromStep - 1))
        }, reference: { step, p, g, s, scale in
            ScalarReference.rAdam(step: step + fromStep - 1, lr: lr, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay,
                                  decoupled: decoupled, p: &p, grad: g, state: &s, gradScale: scale)
        }, bitExact: true)
    }

    static func asgd(_ name: String, lr: Double = 1e-2, lambd: Double = 1e-4, alpha: Double = 0.75, t0: Double = 1e6,
                     weightDecay: Double = 0, fromStep: Int = 1) -> KernelVariant {
        let scalars = StepTable { ScalarReference.asgdScalars(lr: lr, lambd: lambd, alpha: alpha, t0: t0, step: $0 + fromStep - 1) }
        return KernelVariant(name: name, stateCount: 1, initialState: 0, rule: { step in
            let (eta, mu) = scalars[step]
            return LaneRule.asgd(ASGD(eta: eta, mu: mu, lambd: lambd, weightDecay: weightDecay))
        }, reference: { step, p, g, s, scale in
            let (eta, mu) = scalars[step]
            ScalarReference.asgd(eta: eta, mu: mu, lambd: lambd, weightDecay: weightDecay, p: &p, grad: g, state: &s, gradScale: scale)
        }, bitExact: true)
    }

    static func rprop(_ name: String, lr: Double = 1e-2, etaMinus: Double = 0.5, etaPlus: Double = 1.2,
                      minStep: Double = 1e-6, maxStep: Double = 50) -> KernelVariant {
        KernelVariant(name: name, stateCount: 2, initialState: 0, rule: { step in
            LaneRule.rprop(Rprop(lr: lr, etaMinus: etaMinus, etaPlus: etaPlus, minStep: minStep, maxStep: maxStep, step: step))
        }, reference: { step, p, g, s, scale in
            ScalarReference.rprop(step: step, lr: lr, etaMinus: etaMinus, etaPlus: etaPlus, minStep: minStep, maxStep: maxStep,
                                  p: &p, grad: g, state: &s, gradScale: scale)
        }, bitExact: true, signOnly: true)
    }

    /// `weightDecay` as the kernel takes it: lion-pytorch's `decoupled_weight_decay` divides the
    /// configured decay by the initial lr first (as LionOptimizer does before building the kernel).
    static func lion(_ name: String, lr: Double = 1e-4, beta1: Double = 0.9, beta2: Double = 0.99,
                     weightDecay: Double = 0) -> KernelVariant {
        KernelVariant(name: name, stateCount: 1, initialState: 0, rule: { _ in
            LaneRule.lion(Lion(lr: lr, beta1: beta1, beta2: beta2, weightDecay: weightDecay))
        }, reference: { _, p, g, s, scale in
            ScalarReference.lion(lr: lr, beta1: beta1, beta2: beta2, weightDecay: weightDecay, p: &p, grad: g, state: &s, gradScale: scale)
        }, bitExact: true, signOnly: true)
    }

    static func scheduleFreeAdamW(_ name: String, lr: Double = 0.0025, beta1: Double = 0.9, beta2: Double = 0.999,
                                  eps: Double = 1e-8, weightDecay: Double = 0, warmupSteps: Int = 0, r: Double = 0,
                                  weightLRPower: Double = 2, fromStep: Int = 1) -> KernelVariant {
        let scalars = StepTable {
            ScalarReference.scheduleFreeScalars(lr: lr, warmupSteps: warmupSteps, r: r, weightLRPower: weightLRPower, step: $0 + fromStep - 1)
        }
        return KernelVariant(name: name, stateCount: 2, initialState: 0, rule: { step in
            let sf = scalars[step]
            return LaneRule.scheduleFreeAdamW(ScheduleFreeAdamW(lr: sf.lr, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay,
                                                                ckp1: sf.ckp1, step: step + fromStep - 1))
        }, reference: { step, p, g, s, scale in
            let sf = scalars[step]
            ScalarReference.scheduleFreeAdamW(step: step + fromStep - 1, lr: sf.lr, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay,
                                              ckp1: sf.ckp1, p: &p, grad: g, state: &s, gradScale: scale)
        }, bitExact: true)
    }
}

/// Per-step scalars computed once for the first steps a harness runs, rather than once per element
/// by a reference (the scalars of schedule-free and NAdam loop over every earlier step).
struct StepTable<Value: Sendable>: Sendable {
    private let first: [Value]
    private let compute: @Sendable (Int) -> Value

    init(_ compute: @escaping @Sendable (_ step: Int) -> Value) {
        self.compute = compute
        first = (1...8).map(compute)
    }

    subscript(step: Int) -> Value { step >= 1 && step <= first.count ? first[step - 1] : compute(step) }
}

/// The lengths every kernel runs at: empty, a single element, one short of / exactly / one past a
/// SIMD8 vector, a long odd tail, and over a million (several fixed chunks and thread splits).
enum KernelLengths {
    static let all = small + [large]
    /// Every length but the million, which kernel tests run separately (with fewer steps).
    static let small = [0, 1, 7, 8, 9, 1023]
    static let large = 1_000_003
}
