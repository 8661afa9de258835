#if canImport(Glibc)
@testable import StepHTTP
import StepHTTPTesting
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Testing

/// Slow clients against the real binary with small limits: a connection that trickles its
/// request head or body is cut at its deadline although every byte would restart the idle
/// time-out, and other clients are answered meanwhile, at once where the limits leave room
/// and from the backlog once the deadline frees a slot.
@Suite struct SlowClientTests {
    typealias Connection = TestHTTPClient.Connection

    /// Sends one byte on each connection every 250 ms (inside `--request-timeout 1`, so the
    /// idle time-out never fires) until the server has closed each or `limit` seconds have
    /// passed since `start`; returns when each was closed, in seconds since `start`.
    static func trickle(_ connections: [Connection], since start: Date, upTo limit: Double) -> [Double?] {
        var closedAt = [Double?](repeating: nil, count: connections.count)
        while Date().timeIntervalSince(start) < limit, closedAt.contains(where: { $0 == nil }) {
            for (i, c) in connections.enumerated() where closedAt[i] == nil {
                if c.peerHasClosed() || !c.send([0x61]) { closedAt[i] = Date().timeIntervalSince(start) }
            }
            usleep(250_000)
        }
        return closedAt
    }

    /// Seconds until the server closes `connection`, polled up to `limit`; nil if it did not.
    static func secondsUntilClosed(_ connection: Connection, upTo limit: Double) -> Double? {
        let start = Date()
        while Date().timeIntervalSince(start) < limit {
            if connection.peerHasClosed() { return Date().timeIntervalSince(start) }
            usleep(50_000)
        }
        return nil
    }

    static func cutCount(_ stepd: StepdProcess, _ reason: String) throws -> String? {
        let text = try stepd.client.request("GET", "/metrics").text
        let prefix = "stepd_http_connections_cut_total{reason=\"\(reason)\"} "
        return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }

    @Test func trickledHeadsAreCutAtTheHeadDeadlineWhileAnotherAddressIsAnsweredAtOnce() throws {
        let stepd = try StepdProcess(dataDir: "", extra: [
            "--max-connections-per-address", "8", "--header-timeout", "2", "--request-timeout", "1", "--threads", "2",
        ])
        let start = Date()
        let slow = try (0..<8).map { _ in try stepd.slowConnection(from: "127.0.0.1") }
        defer { slow.forEach { $0.close() } }

        var other = stepd.client
        other.sourceHost = "127.0.0.2"
        other.timeoutSeconds = 5
        let asked = Date()
        #expect(try other.request("GET", "/healthz").status == 200)
        #expect(Date().timeIntervalSince(asked) < 1)

        let closedAt = Self.trickle(slow, since: start, upTo: 8)
        for (i, t) in closedAt.enumerated() {
            guard let t else {
                Issue.record("slow connection \(i) still open after 8 s of trickling; the head deadline is 2 s")
                continue
            }
            #expect(t >= 1.9 && t < 6, "slow connection \(i) closed after \(t) s; the head deadline is 2 s")
        }
        // Their slots are free again for the address that held them.
        #expect(try stepd.client.request("GET", "/healthz").status == 200)
        #expect(try Self.cutCount(stepd, "head") == "8")
    }

    @Test func aClientQueuedAtTheConnectionLimitIsAnsweredOnceTheHeadDeadlineFreesASlot() throws {
        // The idle time-out (60 s) alone would keep the silent connections for a minute.
        let stepd = try StepdProcess(dataDir: "", extra: [
            "--max-connections", "4", "--max-connections-per-address", "0", "--header-timeout", "2", "--threads", "2",
        ])
        let start = Date()
        var slow: [Connection] = []
        defer { slow.forEach { $0.close() } }
        // A pool thread that has just reached its share may accept one more and close it at
        // once; such a connection is replaced until every slot is held.
        for _ in 0..<20 where slow.count < 4 {
            let c = try stepd.slowConnection(from: "127.0.0.1")
            usleep(50_000)
            if c.peerHasClosed() { c.close() } else { slow.append(c) }
        }
        try #require(slow.count == 4)

        var queued = stepd.client
        queued.sourceHost = "127.0.0.2"
        queued.timeoutSeconds = 10
        #expect(try queued.request("GET", "/healthz").status == 200)
        let answeredAt = Date().timeIntervalSince(start)
        #expect(answeredAt >= 1.9 && answeredAt < 6, "answered after \(answeredAt) s; the head deadline is 2 s")
        for c in slow { #expect(Self.secondsUntilClosed(c, upTo: 4) != nil) }
    }

    @Test func aBodyTrickledBelowTheMinimumRateIsCutButASlowSteadyOneIsNot() throws {
        let stepd = try StepdProcess(dataDir: "", extra: [
            "--body-timeout", "2", "--body-min-rate", "100", "--request-timeout", "1",
        ])
        let head = Array("POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n".utf8)
        let json = Array(#"{"id":"steady","optimizer":{"type":"sgd","lr":0.1},"params":[{"name":"w","shape":[1],"values":[1]}]}"#.utf8)
        let body = json + [UInt8](repeating: 0x20, count: 1000 - json.count)

        let trickled = try stepd.client.open()
        defer { trickled.close() }
        trickled.send(head + Array(#"{"id":"trickled""#.utf8))
        let steady = try stepd.client.open()
        defer { steady.close() }
        steady.send(head)
        let start = Date()
        // 100 bytes every 250 ms: 2.5 s for the body, longer than --body-timeout but above
        // --body-min-rate. The trickle sends 4 bytes a second.
        var sent = 0
        var trickledClosedAt: Double?
        while Date().timeIntervalSince(start) < 8, sent < body.count || trickledClosedAt == nil {
            if sent < body.count {
                steady.send(Array(body[sent..<min(sent + 100, body.count)]))
                sent += 100
            }
            if trickledClosedAt == nil, trickled.peerHasClosed() || !trickled.send([0x20]) {
                trickledClosedAt = Date().timeIntervalSince(start)
            }
            usleep(250_000)
        }
        let answer = try TestHTTPClient.parse(steady.readToEnd())
        #expect(answer.status == 201, "\(answer.text)")
        let t = try #require(trickledClosedAt, "the trickled body was still being read after 8 s")
        #expect(t >= 1.9 && t < 6, "the trickled body was cut after \(t) s; the body deadline is 2 s")
        #expect(try stepd.client.request("GET", "/v1/sessions/trickled").status == 404)
        #expect(try Self.cutCount(stepd, "body") == "1")
    }

    @Test func aKeepAliveConnectionGetsAFreshHeadDeadlineForEachRequest() throws {
        let stepd = try StepdProcess(dataDir: "", extra: ["--header-timeout", "2"])
        let connection = try stepd.client.open()
        defer { connection.close() }
        // Three requests 1.2 s apart: the last comes 2.4 s after accept, past one deadline.
        for i in 0..<3 {
            if i > 0 { usleep(1_200_000) }
            connection.send(Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            #expect(try connection.readResponse().status == 200)
        }
        // Idle, it is closed once the deadline for the next head has passed.
        let idle = try #require(Self.secondsUntilClosed(connection, upTo: 6), "an idle keep-alive connection stayed open")
        #expect(idle >= 1.9, "closed after \(idle) s idle; the head deadline is 2 s")
    }
}
