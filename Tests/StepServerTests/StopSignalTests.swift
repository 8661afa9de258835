#if canImport(Glibc)
@testable import StepHTTP
import StepHTTPTesting
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Testing

/// `stepd serve` stops gracefully on SIGTERM whenever it arrives, also right after the
/// "listening" line, before a signal handler set up asynchronously would have been in place.
@Suite struct StopSignalTests {
    @Test func aSIGTERMRightAfterStartUpStopsTheServer() throws {
        for round in 0..<5 {
            let stepd = try StepdProcess(dataDir: "")
            kill(stepd.process.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(10)
            while stepd.process.isRunning, Date() < deadline { usleep(10_000) }
            #expect(!stepd.process.isRunning, "round \(round): still running 10 s after SIGTERM")
            if !stepd.process.isRunning {
                #expect(stepd.process.terminationReason == .exit && stepd.process.terminationStatus == 0)
            }
        }
    }
}
