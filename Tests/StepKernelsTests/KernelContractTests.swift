import StepKernels
import Testing

/// What every update kernel must do, checked for every variant of every optimizer: the formula
/// (to the reference's bits where the variant is `bitExact`), thread and split invariance,
/// non-finite and denormal behaviour, gradient-scale folding. The per-optimizer files hold the
/// variants and what is particular to each rule. Every check runs on every compiled copy of the
/// kernels this CPU can run (`InstructionSet`).
///
/// Every check applies to every rule. Two hold in a particular way for some: gradient-scale
/// folding holds trivially for Rprop and Lion, which ignore the gradient's magnitude (their files
/// check that stronger property), and at a non-finite gradient those two rules must do what torch
/// does, which leaves the parameter finite (`KernelChecks.nonFiniteStaysLocal`,
/// `KernelVariant.signOnly`; the kernels' NaN case is a known issue there).
@Suite struct KernelContractTests {
    static let rules = AdamWKernelTests.variants + SGDKernelTests.variants
        + RMSPropKernelTests.variants + AdagradKernelTests.variants
        + AdadeltaKernelTests.variants + AdamaxKernelTests.variants + NAdamKernelTests.variants
        + RAdamKernelTests.variants + ASGDKernelTests.variants + RpropKernelTests.variants
        + LionKernelTests.variants + ScheduleFreeAdamWKernelTests.variants
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

    /// Only as strong as each wide module's own copy of each loop: in a debug build AVX2Kernels
    /// calls StepLanes' unoptimised (portable) code for every rule, and in a release build a rule
    /// whose loop the optimiser did not inline there also runs StepLanes' portable copy (`nm` on
    /// StepKernelsAVX2's object lists such a rule's `stream` as undefined). Then this compares a
    /// copy with itself and passes whatever the wide code would do.
    @Test("every wide copy gives the portable copy's bits, statistics included",
          .enabled(if: InstructionSet.runnable.count > 1, "this CPU runs only the portable copy"),
          arguments: rules, [1, 7, 9, 1023, KernelLengths.large])
    func wideCopiesMatchPortable(_ v: KernelVariant, length: Int) {
        let (params, grads) = KernelHarness.inputs(length: length, steps: 2, seed: 13)
        let portable = KernelHarness.kernel(v.on(.portable), params: params, grads: grads, gradScale: 0.75)
        for isa in InstructionSet.runnable.dropFirst() {
            let wide = KernelHarness.kernel(v.on(isa), params: params, grads: grads, gradScale: 0.75)
            KernelChecks.expectSameBits(portable, wide, v, "\(v.name) \(isa) n=\(length)", sourceLocation: #_sourceLocation)
            #expect(portable.stats == wide.stats, "\(v.name) \(isa) n=\(length): \(portable.stats) vs \(wide.stats)")
        }
    }
}
