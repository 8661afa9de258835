import Foundation
import StepCore

/// The sessions of one server, behind one lock (held only to look up, insert or remove; a
/// step holds its own session's lock). Enforces the session-count and memory limits before
/// anything is allocated.
public final class SessionRegistry: @unchecked Sendable {
    public struct Limits: Sendable {
        public var maxSessions: Int
        /// Parameters + optimizer state + gradient buffers over all sessions.
        public var maxParamBytes: Int
        public init(maxSessions: Int = 1000, maxParamBytes: Int = 8 << 30) {
            self.maxSessions = maxSessions
            self.maxParamBytes = maxParamBytes
        }
    }

    public let limits: Limits
    private let lock = NSLock()
    private var sessions: [String: Session] = [:]
    private var reservedBytes: [String: Int] = [:]

    public init(limits: Limits = Limits()) { self.limits = limits }

    /// 1–64 of `A-Za-z0-9._-`, not starting with a dot: safe as a file name and in a URL.
    public static func isSafeID(_ id: String) -> Bool {
        let u = Array(id.utf8)
        guard (1...64).contains(u.count), u[0] != UInt8(ascii: ".") else { return false }
        return u.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
        }
    }

    public static func newID() -> String {
        String(UInt64.random(in: .min ... .max), radix: 16).leftPadded(to: 16)
    }

    /// Checks an id and the limits, then inserts what `make` builds. `make` runs outside the
    /// registry lock (it allocates and fills buffers), with the bytes reserved meanwhile.
    public func create(id: String?, config: SessionConfig, make: (String) throws -> Session) throws -> Session {
        let id = id ?? SessionRegistry.newID()
        guard SessionRegistry.isSafeID(id) else {
            throw HTTPError.unprocessable(field: "id", detail: "session id \"\(id.prefix(80))\" is not a safe name: 1–64 of A-Z a-z 0-9 . _ -, not starting with a dot")
        }
        let bytes = config.residentBytes
        try reserve(id: id, bytes: bytes)
        do {
            let session = try make(id)
            lock.withLock { sessions[id] = session }
            return session
        } catch {
            _ = lock.withLock { reservedBytes.removeValue(forKey: id) }
            throw error
        }
    }

    private func reserve(id: String, bytes: Int) throws {
        try lock.withLock {
            guard reservedBytes[id] == nil else { throw HTTPError.conflict("a session with id \"\(id)\" already exists", field: "id") }
            guard reservedBytes.count < limits.maxSessions else {
                throw HTTPError.insufficientStorage("the server holds its maximum of \(limits.maxSessions) sessions (--max-sessions); delete one first")
            }
            let used = reservedBytes.values.reduce(0, +)
            guard used + bytes <= limits.maxParamBytes else {
                throw HTTPError.insufficientStorage("the session needs \(bytes) bytes of parameters and optimizer state; \(used) of \(limits.maxParamBytes) (--max-param-bytes) are in use")
            }
            reservedBytes[id] = bytes
        }
    }

    /// Adds a session restored from disk; limits are not applied to what was already accepted.
    public func insertRestored(_ session: Session) {
        lock.withLock {
            sessions[session.id] = session
            reservedBytes[session.id] = session.config.residentBytes
        }
    }

    public func get(_ id: String) throws -> Session {
        guard let s = lock.withLock({ sessions[id] }) else {
            throw HTTPError.notFound("no session \"\(id.prefix(80))\"")
        }
        return s
    }

    @discardableResult
    public func remove(_ id: String) -> Session? {
        lock.withLock {
            reservedBytes[id] = nil
            return sessions.removeValue(forKey: id)
        }
    }

    func lockedLookup(_ id: String) -> Session? { lock.withLock { sessions[id] } }

    func reserveReplacement(id: String, bytes: Int, replacing old: Int) throws {
        try lock.withLock {
            let used = reservedBytes.values.reduce(0, +) - old
            guard used + bytes <= limits.maxParamBytes else {
                throw HTTPError.insufficientStorage("the session needs \(bytes) bytes of parameters and optimizer state; \(used) of \(limits.maxParamBytes) (--max-param-bytes) are in use by others")
            }
            reservedBytes[id] = bytes
        }
    }

    func restoreReservation(id: String, bytes: Int) { lock.withLock { reservedBytes[id] = bytes } }

    func replace(_ session: Session) { lock.withLock { sessions[session.id] = session } }

    public var all: [Session] { lock.withLock { sessions.values.sorted { $0.id < $1.id } } }
    public var count: Int { lock.withLock { sessions.count } }
    public var bytes: Int { lock.withLock { reservedBytes.values.reduce(0, +) } }
}

extension String {
    func leftPadded(to n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}

extension SessionRegistry {
    /// Creates or replaces the session under `id` (PUT of a checkpoint). The new session is
    /// built before the old one is dropped, so a failure leaves the old one in place.
    public func put(id: String, config: SessionConfig, make: (String) throws -> Session) throws -> (Session, created: Bool) {
        guard let old = lockedLookup(id) else { return (try create(id: id, config: config, make: make), true) }
        try reserveReplacement(id: id, bytes: config.residentBytes, replacing: old.config.residentBytes)
        let session: Session
        do { session = try make(id) } catch {
            restoreReservation(id: id, bytes: old.config.residentBytes)
            throw error
        }
        replace(session)
        return (session, false)
    }
}
