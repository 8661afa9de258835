import StepKernels
import Testing

/// What every update kernel must do, checked for every variant of every optimizer: the formula,
/// thread and split invariance, non-finite and denormal behaviour, gradient-scale folding. The
/// per-optimizer files hold the variants and what is particular to each rule. Every check runs
/// on every compiled copy of the kernels this CPU can run (`InstructionSet`).
@Suite struct KernelContractTests {
    static let rules = AdamWKernelTests.variants + SGDKernelTests.variants
        + RMSPropKernelTests.variants + AdagradKernelTests.variants
    static let variants = KernelVariant.onEveryInstructionSet(rules)

    @Test("matches torch's formula over three steps", arguments: variants, KernelLengths.small)
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

    @Test("the AVX2 copy gives the portable copy's bits, statistics included",
          .enabled(if: InstructionSet.runnable.contains(.avx2), "this CPU does not run x86-64-v3 code"),
          arguments: rules, [1, 7, 9, 1023, KernelLengths.large])
    func avx2MatchesPortable(_ v: KernelVariant, length: Int) {
        let (params, grads) = KernelHarness.inputs(length: length, steps: 2, seed: 13)
        let portable = KernelHarness.kernel(v.on(.portable), params: params, grads: grads, gradScale: 0.75)
        let avx2 = KernelHarness.kernel(v.on(.avx2), params: params, grads: grads, gradScale: 0.75)
        KernelChecks.expectSameBits(portable, avx2, v, "\(v.name) n=\(length)", sourceLocation: #_sourceLocation)
        #expect(portable.stats == avx2.stats, "\(v.name) n=\(length): \(portable.stats) vs \(avx2.stats)")
    }
}
