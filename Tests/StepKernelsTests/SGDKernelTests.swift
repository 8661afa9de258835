import StepKernels
import Testing

@Suite struct SGDKernelTests {
    static let variants: [KernelVariant] = [
        .sgd("sgd plain"),
        .sgd("sgd momentum 0.9", momentum: 0.9),
        .sgd("sgd momentum 0.9 dampening 0.3", momentum: 0.9, dampening: 0.3),
        .sgd("sgd nesterov momentum 0.9", momentum: 0.9, nesterov: true),
        .sgd("sgd weight decay 0.01", weightDecay: 0.01),
        .sgd("sgd momentum, dampening and weight decay", momentum: 0.5, dampening: 0.1, weightDecay: 0.05),
    ]

    @Test("the first momentum step copies the gradient into the buffer without dampening")
    func firstMomentumStepCopiesGradient() {
        let v = KernelVariant.sgd("dampened", lr: 0.1, momentum: 0.9, dampening: 0.5)
        let params: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        let g: [Float] = [0.5, -1, 2, 0.25, -0.125, 4, -8, 16, 0.0625]
        let one = KernelHarness.kernel(v, params: params, grads: [g])
        #expect(one.state[0] == g)
        #expect(one.params == zip(params, g).map { $0 + Float(-0.1) * $1 })
        // The second step applies momentum and dampening: buf = 0.9*buf + 0.5*g.
        let two = KernelHarness.kernel(v, params: params, grads: [g, g])
        #expect(two.state[0] == g.map { $0 * Float(0.9) + Float(0.5) * $0 })
    }

    @Test("without momentum the buffer is never touched")
    func plainSGDLeavesMomentumBufferAlone() {
        let run = KernelHarness.kernel(Self.variants[0], params: [1, 2, 3], grads: [[1, 1, 1], [2, 2, 2]])
        #expect(run.state[0] == [0, 0, 0])
        #expect(run.params == [Float(1) + Float(-0.05) * 1 + Float(-0.05) * 2, Float(2) + Float(-0.05) * 1 + Float(-0.05) * 2,
                               Float(3) + Float(-0.05) * 1 + Float(-0.05) * 2])
    }
}
