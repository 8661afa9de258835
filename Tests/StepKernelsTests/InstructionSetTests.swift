import Foundation
import StepKernels
import Testing

@Suite struct InstructionSetTests {
    /// The kernel's own CPU check agrees with what the kernel reports to the OS: on a Linux x86-64
    /// machine whose /proc/cpuinfo lists AVX2, FMA, BMI2 and F16C, a wide copy must be chosen
    /// (or the benchmark's wide figures silently measure the portable loop), and the AVX-512 one
    /// exactly when it also lists x86-64-v4's AVX-512 subsets, VNNI and BF16.
    @Test("the wide copies are chosen exactly when /proc/cpuinfo lists their features")
    func detectionAgreesWithCPUInfo() throws {
        #if arch(x86_64) && os(Linux)
        let info = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let flagsLine = try #require(info.split(separator: "\n").first { $0.hasPrefix("flags") })
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        let v3 = ["avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "abm"].allSatisfy(flags.contains)
        let v4 = v3 && ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl", "avx512_vnni", "avx512_bf16"].allSatisfy(flags.contains)
        #expect(InstructionSet.detected == (v4 ? .avx512 : v3 ? .avx2 : .portable), "flags: \(flags.sorted())")
        #else
        #expect(InstructionSet.detected == .portable)
        #endif
    }

    @Test("the portable copy is always runnable and listed first")
    func portableIsAlwaysRunnable() {
        #expect(InstructionSet.runnable.first == .portable)
        #expect(InstructionSet.runnable.contains(InstructionSet.detected))
        #expect(InstructionSet.runnable == InstructionSet.allCases.filter { $0 <= InstructionSet.detected })
    }
}
