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

    @Test("matches torch's RMSprop formula over three steps", arguments: variants, KernelLengths.small)
    func matchesTorchFormula(_ v: KernelVariant, length: Int) {
        KernelChecks.matchesReference(v, length: length)
    }

    @Test("at 1_000_003 elements matches the formula on 1 thread and the same bits on 2 and 3", arguments: variants)
    func largeInput(_ v: KernelVariant) {
        KernelChecks.largeInputMatchesReferenceOnAnyThreadCount(v)
    }

    @Test("gives the same bits on 1, 2 and 3 threads", arguments: variants, [9, 33, 1023, 4099])
    func threadCountInvariance(_ v: KernelVariant, length: Int) {
        KernelChecks.threadCountInvariant(v, length: length)
    }

    @Test("gives the same bits when a range is cut at unaligned points", arguments: variants)
    func splitInvariance(_ v: KernelVariant) {
        KernelChecks.splitInvariant(v)
    }

    @Test("a NaN or Inf gradient poisons only its own parameter", arguments: variants, [9, 1023])
    func nonFiniteGradientStaysLocal(_ v: KernelVariant, length: Int) {
        KernelChecks.nonFiniteStaysLocal(v, length: length)
    }

    @Test("denormal inputs do not produce NaN", arguments: variants)
    func denormalsStayFinite(_ v: KernelVariant) {
        KernelChecks.denormalsStayFinite(v)
    }

    @Test("a folded gradient scale equals scaling the gradients", arguments: variants)
    func gradScaleFolding(_ v: KernelVariant) {
        KernelChecks.gradScaleEqualsScaledGradients(v)
    }

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
