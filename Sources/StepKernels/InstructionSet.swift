import CStepIntrinsics

/// Which compiled copy of the kernels' loops a call runs. The loops are written once (in
/// StepLanes) and compiled three times: portably, which on x86-64 means SSE2, four lanes per
/// instruction; for x86-64-v3 in StepKernelsAVX2, eight lanes per instruction, which is what
/// closes the gap to torch's AVX2 kernel single-threaded (see README, Benchmarks); and for
/// x86-64-v4 with AVX512-BF16 in StepKernelsAVX512, still eight lanes, with twice the registers
/// and a bfloat16 rounding instruction (what bf16 optimizer state runs on).
///
/// All copies give the same bits: the formulas use no fused multiply-add and no reassociation,
/// so the wider instructions compute the very same IEEE operations, and the bfloat16 instruction
/// is only used where it rounds as the integer code does (tests compare the copies).
public enum InstructionSet: String, Sendable, CaseIterable, CustomStringConvertible {
    case portable
    case avx2
    case avx512

    /// The fastest copy this CPU can run, checked once.
    public static let detected: InstructionSet =
        stepd_cpu_runs_avx512_bf16() != 0 ? .avx512 : stepd_cpu_runs_x86_64_v3() != 0 ? .avx2 : .portable

    /// Every copy this CPU can run, slowest first.
    public static var runnable: [InstructionSet] { allCases.filter { $0 <= detected } }

    public var description: String { rawValue }
}

extension InstructionSet: Comparable {
    /// Each level runs every copy below it.
    public static func < (a: InstructionSet, b: InstructionSet) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}
