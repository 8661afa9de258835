@testable import StepHTTP
import StepHTTPTesting
import Foundation
import StepConformance
import StepConformanceHTTP
import StepConformanceTesting
import Testing

/// Every recorded run in `../shared/conformance/` and its `catalogue/` replayed through the HTTP
/// API with the drivers `stepd conformance` uses: the router in-process and a real server over
/// a loopback socket, each in JSON and in binary bodies.
@Suite struct HTTPConformanceTests {
    static let layers: [ConformanceLayer] = [.router, .socket]

    @Test func theConformanceDirectoriesAreThere() {
        #expect(ConformanceFixtures.caseFiles.filter { !$0.contains("/") }.count >= 12, "expected the cases in \(ConformanceFixtures.root.path)")
        #expect(ConformanceFixtures.caseFiles.filter { $0.hasPrefix("catalogue/") }.count >= 12)
    }

    @Test(arguments: ConformanceFixtures.caseFiles)
    func caseMatchesTorchOverHTTPInJSONAndBinary(_ file: String) throws {
        let c = try ConformanceFixtures.load(file)
        let harness = try ConformanceHarness(layers: Self.layers, threads: 2)
        defer { harness.stop() }
        let results = harness.run(c)
        #expect(results.map(\.layer) == ["router/json", "router/binary", "socket/json", "socket/binary"])
        for result in results {
            if ConformanceFixtures.expectedNotYet.contains(c.name) {
                #expect(result.notYet != nil, "\(result.line): take it off ConformanceFixtures.expectedNotYet")
                #expect(ConformanceFixtures.notYetProblem(c, result) == nil)
            } else {
                #expect(result.notYet == nil, "\(result.line)")
                #expect(result.passed, "\(result.line)\n\(result.failures.prefix(3).joined(separator: "\n"))")
                #expect(result.checks > 0)
            }
        }
        // Every session the drivers made is gone again.
        #expect(harness.service.registry.count == 0)
    }

    @Test func exactComparisonFailsOnTheBitsOverHTTPToo() throws {
        let harness = try ConformanceHarness(layers: Self.layers)
        defer { harness.stop() }
        let (exact, produced, recorded) = try ConformanceFixtures.oneULPOff(exact: true)
        for r in harness.run(exact) {
            #expect(!r.passed, "\(r.line)")
            let message = r.failures.first ?? ""
            #expect(message.contains("bits") && message.contains("0x\(String(produced, radix: 16))")
                    && message.contains("0x\(String(recorded, radix: 16))"), "\(r.layer): \(message)")
        }
        let (tolerant, _, _) = try ConformanceFixtures.oneULPOff(exact: false)
        for r in harness.run(tolerant) {
            #expect(r.passed, "\(r.line)")
        }
    }
}
