import StepLanes

/// The x86-64-v4 copies of the kernels' loops, for CPUs with AVX512-BF16 (AMD Zen 4 and later,
/// Intel Cooper Lake and Sapphire Rapids on). The loops stay eight lanes wide; what the module's
/// `-target-cpu cooperlake` buys is 32 vector registers (the Adam loop no longer spills its
/// constants) and `vcvtneps2bf16`, one instruction for what takes eleven on x86-64-v3, in
/// `stepd_bf16_narrow8x2`. The bfloat16-state step is bound by instructions, not memory, so
/// that is what moves it (README, Speed). Only StepKernels calls in, after
/// `InstructionSet.detected` has checked the CPU.
package enum AVX512Kernels {
    package static func update(_ rule: LaneRule, _ buffers: LaneBuffers, gradScale: Float, range: Range<Int>) -> UpdateStats {
        rule.stream(buffers, gradScale: gradScale, range: range, AVX512Copy.self)
    }

    package static func run(_ pass: TensorPass, _ range: Range<Int>) -> UpdateStats {
        pass.run(range, AVX512Copy.self)
    }
}

/// This module's copy of every loop (see `CompiledCopy`).
@usableFromInline package enum AVX512Copy: CompiledCopy {}
