import StepHTTP
import Foundation
import StepCore

/// The sessions of one server, behind one lock (held only to look up or change an entry; a
/// step holds its own session's lock). Enforces the session-count and memory limits, the
/// server's and the owning tenant's, before anything is allocated.
///
/// Ids are one namespace for the whole server (they name snapshot directories and are what
/// a proxy routes on), but a principal only ever gets the sessions it `canSee`: another
/// tenant's session is "no session" to it, exactly like a missing one.
///
/// Each id moves through explicit states, so requests racing on one id cannot interleave
/// halfway: while an id is being created, replaced (checkpoint PUT) or deleted, a second
/// create, replace or delete of it is refused with 409, and the session that leaves the
/// registry is retired (`Session.retire()`), so a step or PUT still in flight on it fails
/// instead of being applied to, or snapshotted from, a session nobody can see.
public final class SessionRegistry: @unchecked Sendable {
    public struct Limits: Sendable {
        public var maxSessions: Int
        /// Parameters + optimizer state + gradient buffers over all sessions.
        public var maxParamBytes: Int
        /// How many moved-away ids are remembered, and how long (`--moved-keep`, `--moved-max-age`).
        public var movedAway: MovedAway.Retention
        public init(maxSessions: Int = 1000, maxParamBytes: Int = 8 << 30, movedAway: MovedAway.Retention = .init()) {
            self.maxSessions = maxSessions
            self.maxParamBytes = maxParamBytes
            self.movedAway = movedAway
        }
    }

    private enum Entry {
        /// `make` is building it; the bytes are reserved.
        case creating(bytes: Int, tenant: String?)
        case live(Session, bytes: Int)
        /// A checkpoint is being loaded over `old`, which keeps serving until the swap; the
        /// reservation counts against the new session's tenant.
        case replacing(old: Session, oldBytes: Int, newBytes: Int, tenant: String?)
        /// Retired and out of the listing; its snapshots are being removed.
        case deleting(bytes: Int, tenant: String?)

        var bytes: Int {
            switch self {
            case .creating(let b, _), .live(_, let b), .deleting(let b, _): b
            case .replacing(_, let old, let new, _): max(old, new)
            }
        }

        /// Whose quota the entry counts against, in every state, so a tenant cannot outrun its
        /// quota with creates racing each other or a delete.
        var tenant: String? {
            switch self {
            case .creating(_, let t), .replacing(_, _, _, let t), .deleting(_, let t): t
            case .live(let s, _): s.tenant
            }
        }

        var visible: Session? {
            switch self {
            case .live(let s, _), .replacing(let s, _, _, _): s
            case .creating, .deleting: nil
            }
        }
    }

    public let limits: Limits
    /// `limits.maxParamBytes`, shared with the sessions for the extra buffers requests take.
    public let budget: ByteBudget
    private let lock = NSLock()
    private var entries: [String: Entry] = [:]
    /// Sessions moved away from this server (deleted while `Session.movingTo` was set), within
    /// `limits.movedAway`: a client still sent here learns where to go (409 with `Location`)
    /// instead of a bare 404. The data directory keeps them too (`SessionPersistence`); a
    /// session created under the id again replaces its record.
    private var movedAway: [String: MovedAway] = [:]

    public init(limits: Limits = Limits()) {
        self.limits = limits
        budget = ByteBudget(limit: limits.maxParamBytes)
    }

    public static func newID() -> String {
        String(UInt64.random(in: .min ... .max), radix: 16).leftPadded(to: 16)
    }

    private func busy(_ id: String, _ entry: Entry) -> HTTPError {
        switch entry {
        case .live, .replacing: .conflict("a session with id \"\(id)\" already exists", field: "id")
        case .creating: .conflict("session \"\(id)\" is being created by another request; retry", field: "id")
        case .deleting: .conflict("session \"\(id)\" is being deleted; retry once the DELETE has answered", field: "id")
        }
    }

    private func overLimit(_ bytes: Int, replacing: Int = 0) -> HTTPError {
        .insufficientStorage("the session needs \(bytes) bytes of parameters, optimizer state and gradient buffer; \(budget.inUse - replacing) of \(limits.maxParamBytes) (--max-param-bytes) are held by \(replacing > 0 ? "others" : "sessions and requests in flight")")
    }

    /// Refuses, under the lock, a session of `bytes` for `tenant` that would take it past
    /// `quota`; `replacing` is the entry it would take the place of, whose share is freed.
    private func checkQuota(_ tenant: String?, _ quota: TenantQuota, bytes: Int, replacing: Entry?) throws {
        guard let tenant, quota != .unlimited else { return }
        var sessions = 0, used = 0
        for e in entries.values where e.tenant == tenant {
            sessions += 1
            used += e.bytes
        }
        if let replacing, replacing.tenant == tenant {
            sessions -= 1
            used -= replacing.bytes
        }
        if let max = quota.maxSessions, sessions >= max {
            throw HTTPError.insufficientStorage("tenant \"\(tenant)\" holds its maximum of \(max) sessions (max_sessions in the keys file); delete one first")
        }
        if let max = quota.maxParamBytes, used + bytes > max {
            throw HTTPError.insufficientStorage("the session needs \(bytes) bytes of parameters and optimizer state; \(used) of tenant \"\(tenant)\"'s \(max) (max_param_bytes in the keys file) are in use")
        }
    }

    /// Checks an id and the limits, then inserts what `make` builds. `make` runs outside the
    /// registry lock (it allocates and fills buffers), with the bytes reserved meanwhile.
    /// - Parameters:
    ///   - tenant: the owner; `make` must build the session with it.
    ///   - quota: the owner's, checked with the server's limits.
    public func create(id: String?, config: SessionConfig, tenant: String? = nil, quota: TenantQuota = .unlimited,
                       make: (String) throws -> Session) throws -> Session {
        let id = id ?? SessionRegistry.newID()
        guard SessionID.isValid(id) else {
            throw HTTPError.unprocessable(field: "id", detail: "session id \"\(id.prefix(80))\" is not a safe name: \(SessionID.expectation)")
        }
        let bytes = config.residentBytes
        try lock.withLock {
            if let e = entries[id] { throw busy(id, e) }
            guard entries.count < limits.maxSessions else {
                throw HTTPError.insufficientStorage("the server holds its maximum of \(limits.maxSessions) sessions (--max-sessions); delete one first")
            }
            try checkQuota(tenant, quota, bytes: bytes, replacing: nil)
            guard budget.reserve(bytes) else { throw overLimit(bytes) }
            entries[id] = .creating(bytes: bytes, tenant: tenant)
        }
        let session: Session
        do {
            session = try make(id)
            guard session.tenant == tenant else { throw HTTPError.internalError("session \(id) was built for another tenant") }
        } catch {
            _ = lock.withLock { entries.removeValue(forKey: id) }
            budget.release(bytes)
            throw error
        }
        session.drawExtraBuffers(from: budget)
        lock.withLock {
            entries[id] = .live(session, bytes: bytes)
            movedAway[id] = nil
        }
        return session
    }

    /// Moved-away records read back from the data directory at start-up.
    public func insertMovedAway(_ records: [MovedAway]) {
        lock.withLock {
            for r in records where entries[r.id] == nil { movedAway[r.id] = r }
            forgetExpiredMovesLocked()
        }
    }

    private func forgetExpiredMovesLocked() {
        for id in limits.movedAway.expired(movedAway.values, now: MovedAway.now()) { movedAway[id] = nil }
    }

    /// Creates or replaces the session under `id` (PUT of a checkpoint). The new session is
    /// built before the old one is dropped, so a failure leaves the old one in place; the old
    /// one is retired at the swap. A session `principal` cannot see is not replaced: to it the
    /// id is taken, as for a create (409).
    public func put(id: String, config: SessionConfig, tenant: String? = nil, quota: TenantQuota = .unlimited,
                    as principal: Principal,
                    make: (String) throws -> Session) throws -> (Session, created: Bool) {
        let bytes = config.residentBytes
        let old: (Session, Int)? = try lock.withLock {
            guard let e = entries[id] else { return nil }
            guard case .live(let s, let oldBytes) = e, principal.canSee(owner: s.tenant) else { throw busy(id, e) }
            // A frozen session's checkpoint may already be serving elsewhere: replacing it here
            // would thaw it under a second owner. Cancel the move first.
            if let to = s.movingTo { throw SessionError.moving(id: id, to: to.base) }
            try checkQuota(tenant, quota, bytes: bytes, replacing: e)
            // The new session may use what the old one frees; only growth needs new budget.
            guard budget.reserve(max(0, bytes - oldBytes)) else { throw overLimit(bytes, replacing: oldBytes) }
            entries[id] = .replacing(old: s, oldBytes: oldBytes, newBytes: bytes, tenant: tenant)
            return (s, oldBytes)
        }
        guard let (oldSession, oldBytes) = old else {
            return (try create(id: id, config: config, tenant: tenant, quota: quota, make: make), true)
        }
        let session: Session
        do {
            session = try make(id)
            guard session.tenant == tenant else { throw HTTPError.internalError("session \(id) was built for another tenant") }
        } catch {
            lock.withLock { entries[id] = .live(oldSession, bytes: oldBytes) }
            budget.release(max(0, bytes - oldBytes))
            throw error
        }
        session.drawExtraBuffers(from: budget)
        lock.withLock { entries[id] = .live(session, bytes: bytes) }
        oldSession.retire()
        budget.release(max(0, oldBytes - bytes))
        return (session, false)
    }

    /// Adds a session restored from disk, owner included; limits and quotas are not applied to
    /// what was already accepted.
    public func insertRestored(_ session: Session) {
        let bytes = session.config.residentBytes
        budget.forceReserve(bytes)
        session.drawExtraBuffers(from: budget)
        lock.withLock { entries[session.id] = .live(session, bytes: bytes) }
    }

    /// Any session by id, whoever owns it: for the server's own use (snapshots, tools, tests).
    /// Routes use `get(_:for:)`.
    public func get(_ id: String) throws -> Session {
        guard let s = lock.withLock({ entries[id]?.visible }) else { throw missing(id, for: nil) }
        return s
    }

    /// The session under `id` if `principal` may see it; another tenant's is the same 404 as
    /// a missing one, word for word.
    public func get(_ id: String, for principal: Principal) throws -> Session {
        guard let s = lock.withLock({ entries[id]?.visible }), principal.canSee(owner: s.tenant) else {
            throw missing(id, for: principal)
        }
        return s
    }

    /// 404, or 409 with the new home of a session moved away that `principal` (nil: anyone)
    /// may see.
    private func missing(_ id: String, for principal: Principal?) -> HTTPError {
        if let moved = lock.withLock({ movedAway[id] }), principal?.canSee(owner: moved.tenant) ?? true {
            return .moved(id: id, to: moved.to.base, detail: "session \"\(id)\" has moved to \(moved.to.base)")
        }
        return .notFound("no session \"\(id.prefix(80))\"")
    }

    /// Takes `session` out of the listing and retires it, then runs `cleanup` (removing its
    /// snapshots, and recording the move it completes if it was frozen for one) while the id
    /// stays reserved, so a new session under the same id cannot be created until the old
    /// one's files are gone. 404 if `session` is no longer the one registered under its id
    /// (deleted or replaced meanwhile).
    public func remove(_ session: Session, cleanup: (_ movedAway: MovedAway?) -> Void = { _ in }) throws {
        let id = session.id
        try lock.withLock {
            guard let e = entries[id] else { throw HTTPError.notFound("no session \"\(id.prefix(80))\"") }
            guard case .live(let s, let bytes) = e else { throw busy(id, e) }
            guard s === session else { throw SessionError.retired(id: id) }
            entries[id] = .deleting(bytes: bytes, tenant: s.tenant)
        }
        session.retire()
        let moved = session.movingTo.map { MovedAway(id: id, to: $0, tenant: session.tenant) }
        cleanup(moved)
        let bytes = lock.withLock { () -> Int in
            if let moved {
                movedAway[id] = moved
                forgetExpiredMovesLocked()
            }
            guard case .deleting(let b, _)? = entries.removeValue(forKey: id) else { return 0 }
            return b
        }
        budget.release(bytes)
    }

    public var all: [Session] { lock.withLock { entries.values.compactMap(\.visible).sorted { $0.id < $1.id } } }

    /// The sessions `principal` may see, by id.
    public func all(for principal: Principal) -> [Session] {
        all.filter { principal.canSee(owner: $0.tenant) }
    }

    /// Sessions and reserved bytes per owning tenant (nil: sessions without one), for metrics.
    public var usageByTenant: [String?: (sessions: Int, bytes: Int)] {
        lock.withLock {
            var usage: [String?: (sessions: Int, bytes: Int)] = [:]
            for e in entries.values {
                var u = usage[e.tenant] ?? (0, 0)
                if e.visible != nil { u.sessions += 1 }
                u.bytes += e.bytes
                usage[e.tenant] = u
            }
            return usage
        }
    }
    public var count: Int { lock.withLock { entries.values.count { $0.visible != nil } } }
    /// Sessions' resident bytes plus the extra buffers requests hold right now.
    public var bytes: Int { budget.inUse }
}

extension String {
    func leftPadded(to n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
