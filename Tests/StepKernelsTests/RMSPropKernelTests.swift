import StepKernels
import Testing

@Suite struct RMSPropKernelTests {
    static let variants: [KernelVariant] = [
        .rmsprop("rmsprop plain"),
        .rmsprop("rmsprop centered", centered: true),
        .rmsprop("rmsprop momentum 0.9", momentum: 0.9),
        .rmsprop("rmsprop weight decay 0.1", weightDecay: 0.1),
        .rmsprop("rmsprop centered momentum weight decay, alpha 0.3", alpha: 0.3, weightDecay: 0.01, momentum: 0.5, centered: true),
    ]

    @Test("centering changes the update and fills grad_avg; plain RMSprop leaves it at zero")
    func centeringUsesGradientAverage() {
        let (params, grads) = KernelHarness.inputs(length: 17)
        let plain = KernelHarness.kernel(Self.variants[0], params: params, grads: grads)
        let centered = KernelHarness.kernel(Self.variants[1], params: params, grads: grads)
        #expect(plain.state[1].allSatisfy { $0 == 0 })
        #expect(centered.state[1].contains { $0 != 0 })
        #expect(plain.params != centered.params)
    }
}
