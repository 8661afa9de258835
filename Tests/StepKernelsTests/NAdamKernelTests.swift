import StepKernels
import Testing

@Suite struct NAdamKernelTests {
    static let variants: [KernelVariant] = [
        .nAdam("nadam defaults"),
        .nAdam("nadam coupled L2 wd 0.1", weightDecay: 0.1),
        .nAdam("nadam decoupled wd 0.1", weightDecay: 0.1, decoupled: true),
        .nAdam("nadam momentum_decay 0.5, beta1 0.3 (lerp's other form), lr 1e-2", lr: 1e-2, beta1: 0.3, momentumDecay: 0.5),
        .nAdam("nadam decoupled wd 0.01, betas (0.8, 0.95), eps 1e-3", beta1: 0.8, beta2: 0.95, eps: 1e-3, weightDecay: 0.01,
               decoupled: true),
    ]

    @Test("decoupled decay shrinks the parameter by 1 - lr*wd; coupled decay feeds the moments")
    func decoupledVersusCoupledDecay() {
        let params: [Float] = [1, -2, 3, 0.5, -0.25, 8, -8, 1.5, 0.1]
        let zero = [Float](repeating: 0, count: params.count)
        let decoupled = KernelHarness.kernel(Self.variants[2], params: params, grads: [zero])
        // With a zero gradient both moments stay 0 and only the decay moves the parameter.
        #expect(decoupled.params == params.map { $0 * Float(1 - 2e-3 * 0.1) })
        #expect(decoupled.state[0].allSatisfy { $0 == 0 } && decoupled.state[1].allSatisfy { $0 == 0 })
        let coupled = KernelHarness.kernel(Self.variants[1], params: params, grads: [zero])
        // g = 0 + wd*p, exp_avg = lerp(0, g, 1 - b1) = (1-b1)*g.
        #expect(coupled.state[0] == params.map { Float(0.1) * (Float(0.1) * $0) })
        #expect(zip(coupled.params, params).allSatisfy { abs($0 - $1) > 1e-4 }, "coupled decay did not move the parameters")
    }
}
