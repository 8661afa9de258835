import Foundation
import StepConformance
import StepConformanceTesting
import Testing

/// Every recorded run in `../shared/conformance/` and its `catalogue/` replayed through StepCore,
/// on one and on two threads. A missing directory fails (one failing case named after the path)
/// rather than silently running nothing; a case this build cannot run yet must be one of the
/// known few, for a reason the library confirms.
@Suite struct ConformanceTests {
    @Test("both conformance directories exist and hold the cases")
    func directoriesHoldCases() {
        for d in ConformanceFixtures.directories {
            #expect(FileManager.default.fileExists(atPath: d.path), "missing \(d.path)")
        }
        let files = ConformanceFixtures.caseFiles
        #expect(files.filter { !$0.contains("/") }.count >= 12, "\(files)")
        #expect(files.filter { $0.hasPrefix("catalogue/") }.count >= 12, "\(files)")
    }

    @Test("the case replays within tolerance, or is one of the known not-yet cases", arguments: ConformanceFixtures.caseFiles, [1, 2])
    func caseReplays(file: String, threads: Int) throws {
        let c = try ConformanceFixtures.load(file)
        var driver = SessionDriver(threads: threads)
        let result = ConformanceRunner.run(c, driver: &driver)
        if ConformanceFixtures.expectedNotYet.contains(c.name) {
            #expect(result.notYet != nil, "\(c.name) ran: take it off ConformanceFixtures.expectedNotYet")
            #expect(ConformanceFixtures.notYetProblem(c, result) == nil)
        } else {
            #expect(result.notYet == nil, "\(result.line)")
            #expect(result.checks > 0)
            #expect(result.passed, "\(result.line)\n\(result.failures.prefix(5).joined(separator: "\n"))")
        }
    }

    @Test("exactly the known cases are reported not yet, each with a reason")
    func notYetCasesAreNamed() throws {
        var notYet: Set<String> = []
        for file in ConformanceFixtures.caseFiles {
            let c = try ConformanceFixtures.load(file)
            var driver = SessionDriver()
            let r = ConformanceRunner.run(c, driver: &driver)
            guard r.notYet != nil else { continue }
            notYet.insert(c.name)
            #expect(r.line.hasPrefix("NOT YET \(c.name) [library]: "), "\(r.line)")
            #expect(r.passed && r.checks == 0)
            #expect(ConformanceFixtures.notYetProblem(c, r) == nil)
        }
        #expect(notYet == ConformanceFixtures.expectedNotYet)
    }

    @Test("an exact case one ulp off fails on the bits; the same case within tolerance passes")
    func exactComparisonCanFail() throws {
        let (exact, produced, recorded) = try ConformanceFixtures.oneULPOff(exact: true)
        #expect(exact.exact)
        var driver = SessionDriver()
        let failed = ConformanceRunner.run(exact, driver: &driver)
        #expect(!failed.passed)
        #expect(failed.failures.count == 1, "\(failed.failures)")
        let message = failed.failures.first ?? ""
        #expect(message.contains("bits"), "\(message)")
        #expect(message.contains("in 1 of 4 elements"), "\(message)")
        #expect(message.contains("0x\(String(produced, radix: 16))") && message.contains("0x\(String(recorded, radix: 16))"), "\(message)")

        let (tolerant, _, _) = try ConformanceFixtures.oneULPOff(exact: false)
        var again = SessionDriver()
        let passed = ConformanceRunner.run(tolerant, driver: &again)
        #expect(passed.passed, "\(passed.failures)")
        #expect(passed.checks > 0)
    }
}
