import StepKernels
import Testing

@Suite struct AdamaxKernelTests {
    static let variants: [KernelVariant] = [
        .adamax("adamax defaults"),
        .adamax("adamax weight decay 0.1, lr 1e-2", lr: 1e-2, weightDecay: 0.1),
        .adamax("adamax beta1 0.3 (lerp's other form), beta2 0.9", beta1: 0.3, beta2: 0.9),
        .adamax("adamax eps 0.5 (|g| + eps often wins the maximum)", eps: 0.5),
    ]

    @Test("the first step moves each parameter by about lr (exp_inf = |g| + eps)")
    func firstStepMovesByLearningRate() {
        let v = KernelVariant.adamax("adamax lr 1e-3", lr: 1e-3)
        let grads: [Float] = [0.5, -2, 3, -0.001, 10, -10, 0.25, 1, -1]
        let run = KernelHarness.kernel(v, params: Array(repeating: 1, count: grads.count), grads: [grads])
        for (i, g) in grads.enumerated() {
            #expect(abs((1 - run.params[i]) - (g > 0 ? 1e-3 : -1e-3)) < 1e-6, "param \(run.params[i]) for grad \(g)")
            #expect(run.state[1][i] == abs(g) + Float(1e-8))
        }
    }

    @Test("exp_inf keeps the decayed maximum when a smaller gradient follows")
    func infinityNormDecaysSlowly() {
        let v = Self.variants[0]
        let big: [Float] = [4, -4, 2, -2, 1, -1, 0.5, 8, -8]
        let small = big.map { $0 / 100 }
        let one = KernelHarness.kernel(v, params: Array(repeating: 0, count: 9), grads: [big])
        let two = KernelHarness.kernel(v, params: Array(repeating: 0, count: 9), grads: [big, small])
        for i in 0..<9 {
            #expect(two.state[1][i] == one.state[1][i] * Float(0.999), "[\(i)]")
        }
    }
}
