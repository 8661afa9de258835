#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
@testable import StepHTTP

/// The deadline rules and the sweep without a server: when a connection is late, and that the
/// sweep shuts the socket of a late connection once and leaves the others alone.
@Suite struct ConnectionDeadlinesTests {
    static let policy = ConnectionDeadlines.Policy(headerTimeout: .seconds(10), bodyTimeout: .seconds(30),
                                                   bodyMinBytesPerSecond: 1000)
    static let t0 = ContinuousClock.now

    @Test func aHeadIsDueHeaderTimeoutAfterTheConnectionBecameReady() throws {
        let due = try #require(Self.policy.deadline(for: .awaitingHead(since: Self.t0)))
        #expect(due.0 == Self.t0 + .seconds(10))
        #expect(due.1 == .head)
    }

    @Test func aBodyEarnsOneSecondPerMinimumRateOfBytesReceived() throws {
        let due = try #require(Self.policy.deadline(for: .receivingBody(since: Self.t0, received: 5000)))
        #expect(due.0 == Self.t0 + .seconds(35))
        #expect(due.1 == .body)
        var fixed = Self.policy
        fixed.bodyMinBytesPerSecond = 0
        #expect(fixed.deadline(for: .receivingBody(since: Self.t0, received: 5000))?.0 == Self.t0 + .seconds(30))
    }

    @Test func aRequestBeingAnsweredOrAnOffDeadlineHasNone() {
        #expect(Self.policy.deadline(for: .answering) == nil)
        let off = ConnectionDeadlines.Policy(headerTimeout: nil, bodyTimeout: nil, bodyMinBytesPerSecond: 1000)
        #expect(!off.isEnabled)
        #expect(off.deadline(for: .awaitingHead(since: Self.t0)) == nil)
        #expect(off.deadline(for: .receivingBody(since: Self.t0, received: 0)) == nil)
    }

    @Test func theSweepRunsOftenEnoughToCutAtMostAQuarterLate() {
        #expect(Self.policy.sweepInterval == .milliseconds(1000))
        var short = Self.policy
        short.headerTimeout = .seconds(2)
        #expect(short.sweepInterval == .milliseconds(500))
    }

    /// A connected socket pair: the tracked end and the end that sees it shut.
    final class SocketPair {
        let fds: [Int32]
        init() throws {
            var fds: [Int32] = [0, 0]
            #if canImport(Glibc)
            try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
            #else
            try #require(socketpair(AF_UNIX, SOCK_STREAM, 0, &fds) == 0)
            #endif
            self.fds = fds
        }
        deinit { fds.forEach { close($0) } }

        /// Whether the tracked end was shut: a read at the other end returns end-of-file at once.
        var wasShut: Bool {
            var byte: UInt8 = 0
            return recv(fds[1], &byte, 1, Int32(MSG_DONTWAIT)) == 0
        }
    }

    /// Deadlines whose own timer never cuts during a test (its deadlines are ten seconds and
    /// more away), swept by hand at chosen instants.
    static func deadlines(_ cuts: LockedValue<[ConnectionDeadlines.Reason]>) -> ConnectionDeadlines {
        ConnectionDeadlines(policy: policy) { reason in cuts.withLock { $0.append(reason) } }
    }

    @Test func theSweepShutsALateConnectionOnceAndSparesTheRest() throws {
        let cuts = LockedValue<[ConnectionDeadlines.Reason]>([])
        let deadlines = Self.deadlines(cuts)
        defer { deadlines.stop() }
        let late = try SocketPair(), answering = try SocketPair()
        _ = deadlines.opened(fd: late.fds[0])
        deadlines.opened(fd: answering.fds[0]).headReceived(readingBody: false)

        deadlines.sweep(now: .now + .seconds(5))
        #expect(cuts.withLock { $0 }.isEmpty)
        #expect(!late.wasShut)

        deadlines.sweep(now: .now + .seconds(11))
        deadlines.sweep(now: .now + .seconds(12))
        #expect(cuts.withLock { $0 } == [.head])
        #expect(late.wasShut)
        #expect(!answering.wasShut)
    }

    @Test func aBodyDeadlineCountsFromTheHeadAndGrowsWithTheBytesReceived() throws {
        let cuts = LockedValue<[ConnectionDeadlines.Reason]>([])
        let deadlines = Self.deadlines(cuts)
        defer { deadlines.stop() }
        let pair = try SocketPair()
        let t = deadlines.opened(fd: pair.fds[0])
        let headAt = ContinuousClock.now + .seconds(8)
        t.headReceived(readingBody: true, now: headAt)
        t.bodyReceived(100)
        t.bodyReceived(400)
        deadlines.sweep(now: headAt + .seconds(30.4))
        #expect(!pair.wasShut, "cut before 30 s + 500 B at 1000 B/s")
        deadlines.sweep(now: headAt + .seconds(30.6))
        #expect(pair.wasShut)
        #expect(cuts.withLock { $0 } == [.body])
    }

    @Test func aFinishedRequestRestartsTheHeadDeadline() throws {
        let cuts = LockedValue<[ConnectionDeadlines.Reason]>([])
        let deadlines = Self.deadlines(cuts)
        defer { deadlines.stop() }
        let pair = try SocketPair()
        let t = deadlines.opened(fd: pair.fds[0])
        t.headReceived(readingBody: false)
        let doneAt = ContinuousClock.now + .seconds(20)
        t.requestCompleted(now: doneAt)
        deadlines.sweep(now: doneAt + .seconds(9))
        #expect(!pair.wasShut, "cut before the next head was due")
        deadlines.sweep(now: doneAt + .seconds(10))
        #expect(pair.wasShut)
    }

    @Test func aClosedConnectionIsNeverShutAgain() throws {
        // MHD may reuse the descriptor of a closed connection for a new one at once.
        let cuts = LockedValue<[ConnectionDeadlines.Reason]>([])
        let deadlines = Self.deadlines(cuts)
        defer { deadlines.stop() }
        let pair = try SocketPair()
        deadlines.closed(deadlines.opened(fd: pair.fds[0]))
        deadlines.sweep(now: .now + .seconds(60))
        #expect(!pair.wasShut)
        #expect(cuts.withLock { $0 }.isEmpty)
    }
}
