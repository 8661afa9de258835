#if canImport(Glibc)
@testable import StepHTTP
import StepHTTPTesting
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Testing

/// `--max-connections` and `--max-connections-per-address` on the real binary: one client
/// cannot take every connection slot, and a saturated server still stops promptly.
@Suite struct ConnectionLimitTests {
    @Test func connectionsBeyondThePerAddressLimitAreRefusedWhileOtherAddressesAreServed() throws {
        let stepd = try StepdProcess(dataDir: "", extra: ["--max-connections-per-address", "8", "--threads", "2"])
        let held = try (0..<8).map { _ in try stepd.slowConnection(from: "127.0.0.1") }
        defer { held.forEach { $0.close() } }

        var sameAddress = stepd.client
        sameAddress.timeoutSeconds = 5
        let refused = try sameAddress.open()
        defer { refused.close() }
        refused.send(Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(refused.readToEnd().isEmpty)
        #expect(refused.closedByPeer, "a ninth connection from 127.0.0.1 was not closed at once")

        var other = stepd.client
        other.sourceHost = "127.0.0.2"
        other.timeoutSeconds = 5
        #expect(try other.request("GET", "/healthz").status == 200)
        _ = stepd.terminate()
    }

    @Test func aServerAtItsConnectionLimitStopsPromptly() throws {
        // Two pool threads with one connection each: both stop polling the listen socket.
        let stepd = try StepdProcess(dataDir: "", extra: ["--max-connections", "2", "--threads", "2"])
        let held = try (0..<2).map { _ in try stepd.slowConnection(from: "127.0.0.1") }
        defer { held.forEach { $0.close() } }
        usleep(200_000)
        let start = Date()
        #expect(stepd.terminate() == 0)
        // The idle time-out (--request-timeout) is 60 s; stopping must not wait for it.
        #expect(Date().timeIntervalSince(start) < 10, "stopping took \(Date().timeIntervalSince(start)) s")
    }
}
