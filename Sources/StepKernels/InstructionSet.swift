import CStepIntrinsics

/// Which compiled copy of the kernels' loops a call runs. The loops are written once (in
/// StepLanes) and compiled twice: portably, which on x86-64 means SSE2, four lanes per
/// instruction; and for x86-64-v3 in StepKernelsAVX2, eight lanes per instruction. The second
/// is what closes the gap to torch's AVX2 kernel single-threaded (see README, Benchmarks).
///
/// Both copies give the same bits: the formulas use no fused multiply-add and no reassociation,
/// so the wider instructions compute the very same IEEE operations (tests compare them).
public enum InstructionSet: String, Sendable, CaseIterable, CustomStringConvertible {
    case portable
    case avx2

    /// The fastest copy this CPU can run, checked once.
    public static let detected: InstructionSet = stepd_cpu_runs_x86_64_v3() != 0 ? .avx2 : .portable

    /// Every copy this CPU can run.
    public static var runnable: [InstructionSet] { detected == .avx2 ? [.portable, .avx2] : [.portable] }

    public var description: String { rawValue }
}
