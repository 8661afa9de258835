import StepKernels
import Testing

/// What every update kernel must do, checked for every variant of every optimizer: the formula,
/// thread and split invariance, non-finite and denormal behaviour, gradient-scale folding. The
/// per-optimizer files hold the variants and what is particular to each rule.
@Suite struct KernelContractTests {
    static let variants = AdamWKernelTests.variants + SGDKernelTests.variants
        + RMSPropKernelTests.variants + AdagradKernelTests.variants

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
}
