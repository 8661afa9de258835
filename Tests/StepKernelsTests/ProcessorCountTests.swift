#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import StepKernels

/// One core count for the kernels and the HTTP workers, honouring the CPU affinity a container
/// or `taskset` sets.
@Suite struct ProcessorCountTests {
    @Test("the affinity mask is read and bounds the count")
    func affinityIsRead() throws {
        #if os(Linux)
        let allowed = try #require(ProcessorCount.affinityCount())
        #expect(allowed >= 1)
        #expect(ProcessorCount.active == min(allowed, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
        #endif
        #expect(ProcessorCount.active >= 1)
    }
}
