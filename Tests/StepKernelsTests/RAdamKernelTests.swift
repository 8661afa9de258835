import StepKernels
import Testing

@Suite struct RAdamKernelTests {
    /// rho_t <= 5 for the first five steps at beta2 = 0.999 (rho_5 = 4.996, rho_6 = 5.994): the
    /// variants from step 1 are un-rectified throughout, the one from step 5 crosses over.
    static let variants: [KernelVariant] = [
        .rAdam("radam defaults, steps 1-3 (un-rectified)"),
        .rAdam("radam coupled L2 wd 0.1, steps 1-3", weightDecay: 0.1),
        .rAdam("radam decoupled wd 0.1, steps 1-3", weightDecay: 0.1, decoupled: true),
        .rAdam("radam steps 5-7 (rho_t crosses 5 after step 5)", lr: 1e-2, fromStep: 5),
        .rAdam("radam decoupled wd 0.01, betas (0.8, 0.95), steps 20-22 (rectified)", lr: 1e-2, beta1: 0.8, beta2: 0.95,
               weightDecay: 0.01, decoupled: true, fromStep: 20),
        .rAdam("radam coupled L2 wd 0.05, beta1 0.3 (lerp's other form), steps 100-102", lr: 1e-2, beta1: 0.3,
               weightDecay: 0.05, fromStep: 100),
    ]

    @Test("while rho_t <= 5 the step is lr * m̂ alone: exp_avg_sq and eps do not reach the parameters")
    func unrectifiedStepsIgnoreSecondMoment() {
        let (params, grads) = KernelHarness.inputs(length: 41)
        let a = KernelHarness.kernel(.rAdam("a", lr: 1e-2), params: params, grads: grads)
        let b = KernelHarness.kernel(.rAdam("b", lr: 1e-2, beta2: 0.99, eps: 1), params: params, grads: grads)
        #expect(a.params == b.params)
        #expect(a.state[1] != b.state[1])
        // Step 1: m̂ = m / (1 - b1) is the gradient to within rounding.
        let one = KernelHarness.kernel(.rAdam("one", lr: 1e-2), params: params, grads: [grads[0]])
        for i in 0..<params.count {
            #expect(abs(Double(params[i] - one.params[i]) - 1e-2 * Double(grads[0][i])) < 4e-7, "[\(i)]")
        }
    }

    @Test("once rho_t > 5 the adaptive term applies: eps reaches the parameters")
    func rectifiedStepsUseSecondMoment() {
        let (params, grads) = KernelHarness.inputs(length: 41)
        let a = KernelHarness.kernel(.rAdam("a", lr: 1e-2, fromStep: 6), params: params, grads: grads)
        let b = KernelHarness.kernel(.rAdam("b", lr: 1e-2, eps: 1, fromStep: 6), params: params, grads: grads)
        #expect(zip(a.params, b.params).allSatisfy { $0 != $1 })
    }
}
