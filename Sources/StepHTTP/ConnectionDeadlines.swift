import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Deadlines libmicrohttpd 0.9.75 does not have. Its only time-out is for idleness and it
/// restarts with every byte, so a client that trickles a byte now and then keeps its
/// connection, and its slot under the connection limits, for ever (the slow-loris attack).
///
/// Here a connection must deliver each request head within `headerTimeout` of becoming ready
/// for it (accepted, or its previous response sent, so an idle keep-alive connection lasts that
/// long too), and a body within `bodyTimeout` plus one second per `bodyMinBytesPerSecond`
/// bytes received (the rule of Apache's mod_reqtimeout: a slow link may take long, a trickle
/// may not). Once the body is in, the handler and the response are bounded by the idle time-out
/// only.
///
/// MHD has no call to close a connection from outside its own threads, so a sweep on a timer
/// cuts late connections with shutdown(2); MHD then sees the client gone and closes it itself,
/// on its own thread, freeing per-request state as for any dropped client. The socket is shut
/// under the lock that MHD's close notification takes first, and MHD closes the descriptor only
/// after that notification, so a descriptor number reused by a newer connection is never hit.
final class ConnectionDeadlines: @unchecked Sendable {
    typealias Instant = ContinuousClock.Instant

    struct Policy: Sendable, Equatable {
        /// nil: no deadline for request heads.
        var headerTimeout: Duration?
        /// nil: no deadline for request bodies.
        var bodyTimeout: Duration?
        /// Bytes per second a body must average beyond `bodyTimeout`; 0 makes `bodyTimeout` a
        /// fixed deadline for the whole body.
        var bodyMinBytesPerSecond: Int

        var isEnabled: Bool { headerTimeout != nil || bodyTimeout != nil }

        /// When a connection in `phase` is late, and for what.
        func deadline(for phase: Phase) -> (Instant, Reason)? {
            switch phase {
            case .awaitingHead(let since):
                return headerTimeout.map { (since + $0, .head) }
            case .receivingBody(let since, let received):
                guard let bodyTimeout else { return nil }
                let earned = bodyMinBytesPerSecond > 0
                    ? Duration.seconds(Double(received) / Double(bodyMinBytesPerSecond)) : .zero
                return (since + bodyTimeout + earned, .body)
            case .answering:
                return nil
            }
        }

        /// How often to sweep: a quarter of the shortest deadline, so a late connection is cut
        /// at most 25% late, but at least every second and at most 20 times a second.
        var sweepInterval: Duration {
            let shortest = [headerTimeout, bodyTimeout].compactMap { $0 }.min() ?? .seconds(4)
            return min(.seconds(1), max(.milliseconds(50), shortest / 4))
        }
    }

    enum Phase: Equatable {
        case awaitingHead(since: Instant)
        case receivingBody(since: Instant, received: Int)
        /// The request is in: a handler runs or the response is being sent.
        case answering
    }

    enum Reason: String, Sendable {
        case head
        case body
    }

    /// One open connection, reachable from MHD's callbacks through its socket context.
    final class Tracked: @unchecked Sendable {
        let fd: Int32
        fileprivate let state: LockedValue<(phase: Phase, cut: Bool)>

        init(fd: Int32, now: Instant = .now) {
            self.fd = fd
            state = LockedValue((.awaitingHead(since: now), false))
        }

        /// The head is parsed: the body's deadline starts, or there is none to wait for.
        func headReceived(readingBody: Bool, now: Instant = .now) {
            state.withLock { $0.phase = readingBody ? .receivingBody(since: now, received: 0) : .answering }
        }

        func bodyReceived(_ count: Int) {
            state.withLock {
                if case .receivingBody(let since, let received) = $0.phase {
                    $0.phase = .receivingBody(since: since, received: received + count)
                }
            }
        }

        func answering() { state.withLock { $0.phase = .answering } }

        /// The response is sent; the next request's head is due from now.
        func requestCompleted(now: Instant = .now) { state.withLock { $0.phase = .awaitingHead(since: now) } }
    }

    let policy: Policy
    private let onCut: @Sendable (Reason) -> Void
    private let open = LockedValue<[ObjectIdentifier: Tracked]>([:])
    private let queue = DispatchQueue(label: "stepd.http.connection-deadlines")
    private let timer: DispatchSourceTimer

    /// Starts sweeping at once; `onCut` runs on the sweep's queue for every connection cut,
    /// for metrics and logs.
    init(policy: Policy, onCut: @escaping @Sendable (Reason) -> Void) {
        self.policy = policy
        self.onCut = onCut
        timer = DispatchSource.makeTimerSource(queue: queue)
        let interval = DispatchTimeInterval.nanoseconds(Int(policy.sweepInterval / .nanoseconds(1)))
        timer.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(20))
        timer.setEventHandler { [weak self] in self?.sweep() }
        timer.resume()
    }

    deinit { timer.cancel() }

    /// Stops sweeping; returns once no sweep is running.
    func stop() {
        timer.cancel()
        queue.sync {}
    }

    func opened(fd: Int32) -> Tracked {
        let t = Tracked(fd: fd)
        open.withLock { $0[ObjectIdentifier(t)] = t }
        return t
    }

    /// MHD calls this before it closes the descriptor.
    func closed(_ t: Tracked) {
        open.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(t)) }
    }

    /// Cuts every connection past its deadline at `now`.
    func sweep(now: Instant = .now) {
        open.withLock { connections in
            for t in connections.values {
                let late = t.state.withLock { s -> Reason? in
                    guard !s.cut, let (deadline, reason) = policy.deadline(for: s.phase), now >= deadline else { return nil }
                    s.cut = true
                    return reason
                }
                guard let late else { continue }
                _ = shutdown(t.fd, Int32(SHUT_RDWR))
                onCut(late)
            }
        }
    }
}
