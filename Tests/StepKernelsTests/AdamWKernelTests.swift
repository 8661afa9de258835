import StepKernels
import Testing

@Suite struct AdamWKernelTests {
    static let variants: [KernelVariant] = [
        .adam("adamw decoupled wd 0.1", weightDecay: 0.1, decoupled: true, amsgrad: false),
        .adam("adamw amsgrad betas (0.8, 0.95)", beta1: 0.8, beta2: 0.95, weightDecay: 0.01, decoupled: true, amsgrad: true),
        .adam("adam coupled L2 wd 0.1", weightDecay: 0.1, decoupled: false, amsgrad: false),
        .adam("adam coupled L2 amsgrad, beta1 0.3 (lerp's other branch)", beta1: 0.3, weightDecay: 0.05, decoupled: false, amsgrad: true),
    ]

    @Test("matches the formula with a clip-like gradient scale of 0.37")
    func matchesTorchFormulaWithInexactGradScale() {
        KernelChecks.matchesReference(Self.variants[0], length: 1023, gradScale: 0.37)
    }

    @Test("amsgrad keeps max_exp_avg_sq at or above exp_avg_sq")
    func amsgradKeepsRunningMaximum() {
        let v = Self.variants[1]
        var (params, grads) = KernelHarness.inputs(length: 64)
        grads.append(grads[1])  // a small gradient after large ones makes exp_avg_sq fall
        let run = KernelHarness.kernel(v, params: params, grads: grads)
        #expect(zip(run.state[2], run.state[1]).allSatisfy { $0 >= $1 })
        #expect(zip(run.state[2], run.state[1]).contains { $0 > $1 }, "exp_avg_sq never fell below its maximum")
    }

    @Test("the first step moves each parameter by about lr (bias correction at step 1)")
    func firstStepMovesByLearningRate() {
        // With zero state, m̂ = g and v̂ = g², so the update is lr * g / (|g| + eps) ≈ ±lr.
        let v = KernelVariant.adam("adam no decay", lr: 1e-3, weightDecay: 0, decoupled: true, amsgrad: false)
        let params: [Float] = Array(repeating: 1, count: 9)
        let grads: [[Float]] = [[0.5, -2, 3, -0.001, 10, -10, 0.25, 1, -1]]
        let run = KernelHarness.kernel(v, params: params, grads: grads)
        for (p, g) in zip(run.params, grads[0]) {
            #expect(abs((1 - p) - (g > 0 ? 1e-3 : -1e-3)) < 1e-6, "param \(p) for grad \(g)")
        }
    }
}
