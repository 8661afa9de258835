import StepKernels
import Testing

@Suite struct LionKernelTests {
    static let variants: [KernelVariant] = [
        .lion("lion defaults (lr 1e-4, betas (0.9, 0.99))"),
        .lion("lion weight decay 0.1, lr 1e-3", lr: 1e-3, weightDecay: 0.1),
        .lion("lion decoupled weight decay 0.1 at lr 3e-4 (the kernel gets 0.1 / 3e-4)", lr: 3e-4, weightDecay: 0.1 / 3e-4),
        .lion("lion betas (0.95, 0.98), lr 1e-2", lr: 1e-2, beta1: 0.95, beta2: 0.98),
    ]

    @Test("without weight decay each step moves a parameter by exactly lr, or not at all", arguments: InstructionSet.runnable)
    func stepsAreExactlyLearningRate(isa: InstructionSet) {
        let lr = 1.0 / 1024  // a power of two, so p ± lr is exact for these parameters
        let v = KernelVariant.lion("lion lr 2^-10", lr: lr).on(isa)
        let params: [Float] = [1, -2, 3, 0.5, -0.25, 8, -8, 1.5, 0.125, 0]
        let g1: [Float] = [0.5, -1, 2, 0.25, -0.125, 4, -8, 16, 0.0625, 0]
        let g2: [Float] = [-0.5, 1, 2, -0.001, 0.125, -4, 8, -16, 0, 3]
        let one = KernelHarness.kernel(v, params: params, grads: [g1])
        // exp_avg starts at 0: the first direction is sign(g), and exp_avg becomes (1-b2)*g.
        #expect(one.params == zip(params, g1).map { $0 - Float(lr) * ($1 > 0 ? 1 : ($1 < 0 ? -1 : 0)) })
        #expect(one.state[0] == g1.map { Float(1 - 0.99) * $0 })
        let two = KernelHarness.kernel(v, params: params, grads: [g1, g2])
        for i in 0..<params.count {
            let moved = abs(two.params[i] - one.params[i])
            #expect(moved == Float(lr) || moved == 0, "[\(i)] moved \(moved)")
        }
    }

    @Test("only the interpolation's sign matters: a power-of-two gradient scale leaves the parameters' bits",
          arguments: variants, [Float(0.5), 8])
    func ignoresGradientMagnitude(_ v: KernelVariant, scale: Float) {
        let (params, grads) = KernelHarness.inputs(length: 45, seed: 5)
        let plain = KernelHarness.kernel(v, params: params, grads: grads)
        let scaled = KernelHarness.kernel(v, params: params, grads: grads, gradScale: scale)
        #expect(plain.params == scaled.params)
        #expect(plain.state[0].map { $0 * scale } == scaled.state[0])
    }
}
