import StepKernels
import Testing

@Suite struct RpropKernelTests {
    static let variants: [KernelVariant] = [
        .rprop("rprop defaults"),
        .rprop("rprop etas (0.3, 1.5), lr 0.05", lr: 5e-2, etaMinus: 0.3, etaPlus: 1.5),
        .rprop("rprop step sizes clamped to [0.006, 0.011]", minStep: 0.006, maxStep: 0.011),
    ]

    @Test("step sizes grow while the sign holds, shrink and skip the step on a flip, and stay in [min, max]",
          arguments: InstructionSet.runnable)
    func signFlipsAndClamping(isa: InstructionSet) {
        let v = KernelVariant.rprop("rprop lr 0.1, step sizes [0.06, 0.13]", lr: 0.1, minStep: 0.06, maxStep: 0.13).on(isa)
        let params: [Float] = [0, 0, 0, 0]
        let g1: [Float] = [1, 1, -1, 1], g2: [Float] = [2, -3, -1, 0]
        let lr = Float(0.1), grown = Float(0.1) * Float(1.2)
        // Step 1: no previous gradient (product 0, factor 1): every size is lr.
        let one = KernelHarness.kernel(v, params: params, grads: [g1])
        #expect(one.state[1] == [lr, lr, lr, lr])
        #expect(one.params == [-lr, -lr, lr, -lr])
        #expect(one.state[0] == g1)
        // Step 2: [0] and [2] keep their sign and grow; [1] flips: its size is cut to 0.05 and
        // clamped up to 0.06, the step is skipped and prev becomes 0; [3] has a zero gradient.
        let two = KernelHarness.kernel(v, params: params, grads: [g1, g2])
        #expect(two.state[1] == [grown, Float(0.06), grown, lr])
        #expect(two.params == [-lr - grown, -lr, lr + grown, -lr])
        #expect(two.state[0] == [2, 0, -1, 0])
        // Step 3: [0] and [2] would grow to 0.144 and are clamped down to 0.13; [1] and [3] follow a
        // zero prev (factor 1) and step by their size.
        let three = KernelHarness.kernel(v, params: params, grads: [g1, g2, g1])
        #expect(three.state[1] == [Float(0.13), Float(0.06), Float(0.13), lr])
        #expect(three.params == [(-lr - grown) - Float(0.13), -lr - Float(0.06), (lr + grown) + Float(0.13), -lr - lr])
        #expect(three.state[0] == g1)
    }

    @Test("lr only sets the first step size; later steps read step_size", arguments: InstructionSet.runnable)
    func learningRateOnlySeedsStepSize(isa: InstructionSet) {
        let params: [Float] = [1, 2, 3]
        let grads: [[Float]] = [[1, -1, 1], [1, -1, 1]]
        let a = KernelVariant.rprop("a", lr: 0.1).on(isa)
        // A different lr after step 1 (a schedule, a PATCH) changes nothing: the kernel of step 2
        // is built with lr 5 here.
        let b = KernelVariant(name: "b", stateCount: 2, initialState: 0, rule: { step in
            LaneRule.rprop(Rprop(lr: step == 1 ? 0.1 : 5, etaMinus: 0.5, etaPlus: 1.2, minStep: 1e-6, maxStep: 50, step: step))
        }, reference: { _, _, _, _, _ in }).on(isa)
        #expect(KernelHarness.kernel(a, params: params, grads: grads).params == KernelHarness.kernel(b, params: params, grads: grads).params)
    }

    @Test("an infinite gradient where prev is 0 keeps the step size: torch's sign(Inf * 0) is sign(NaN) = 0, factor 1",
          arguments: InstructionSet.runnable)
    func infiniteGradientOnZeroPrevious(isa: InstructionSet) {
        // On step 1 (and after a sign flip) prev is 0; Inf * 0 is NaN, which torch.sign maps to 0
        // on CPU (pytorch/pytorch#41245): the size stays lr and the parameter steps by -sign(g)*lr.
        let v = Self.variants[0].on(isa)
        let params: [Float] = [1, 1, 1]
        let grads: [[Float]] = [[.infinity, 0.5, -.infinity]]
        let want = KernelHarness.reference(v, params: params, grads: grads)
        let lr = Float(0.01)
        #expect(want.params == [1 - lr, 1 - lr, 1 + lr] && want.state[1] == [lr, lr, lr])
        let got = KernelHarness.kernel(v, params: params, grads: grads)
        #expect(got.params[1] == want.params[1] && got.state[1][1] == lr)
        #expect(got.params == want.params, "\(got.params) vs torch \(want.params)")
        #expect(got.state[1] == want.state[1], "\(got.state[1]) vs torch \(want.state[1])")
    }

    @Test("only the gradient's sign matters: a power-of-two gradient scale leaves the parameters' bits",
          arguments: variants, [Float(0.5), 8])
    func ignoresGradientMagnitude(_ v: KernelVariant, scale: Float) {
        let (params, grads) = KernelHarness.inputs(length: 45, seed: 5)
        let plain = KernelHarness.kernel(v, params: params, grads: grads)
        let scaled = KernelHarness.kernel(v, params: params, grads: grads, gradScale: scale)
        #expect(plain.params == scaled.params)
        #expect(plain.state[1] == scaled.state[1])
        #expect(plain.state[0].map { $0 * scale } == scaled.state[0])
    }
}
