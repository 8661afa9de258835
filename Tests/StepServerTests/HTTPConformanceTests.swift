import Foundation
import StepConformance
import Testing

/// Every recorded torch.optim run, replayed over a real loopback socket, in JSON and in binary.
@Suite struct HTTPConformanceTests {
    @Test func theConformanceDirectoryIsThere() {
        #expect(Paths.conformanceFiles.count >= 12, "expected the cases in \(Paths.conformance.path)")
    }

    @Test(arguments: Paths.conformanceFiles)
    func caseMatchesTorchOverHTTPInJSONAndBinary(_ file: String) throws {
        let c = try ConformanceCase(contentsOf: Paths.conformance.appendingPathComponent(file))
        let server = try LiveServer()
        for encoding in [HTTPConformanceDriver.Encoding.json, .binary] {
            var driver = HTTPConformanceDriver(server: server, encoding: encoding)
            let result = ConformanceRunner.run(c, driver: &driver)
            #expect(result.passed, "\(encoding): \(result.failures.prefix(3))")
            #expect(result.checks > 0)
        }
    }
}
