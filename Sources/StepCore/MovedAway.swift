import Foundation
import StepJSON

/// A session that left this server by a completed move (deleted while frozen for it): where it
/// went, whose it was and when, so a client still sent here gets 409 with `Location` instead of
/// a bare 404. The registry keeps these in memory and the data directory on disk, both within
/// one `Retention`, so a restart answers exactly as before it.
public struct MovedAway: Sendable, Equatable {
    public let id: String
    public let to: MoveTarget
    public let tenant: String?
    /// When the move completed (Unix milliseconds), for `Retention.maxAgeMillis`.
    public let unixMillis: Int64

    public init(id: String, to: MoveTarget, tenant: String?, unixMillis: Int64 = MovedAway.now()) {
        self.id = id; self.to = to; self.tenant = tenant; self.unixMillis = unixMillis
    }

    /// The wall clock in Unix milliseconds, the unit of `unixMillis`.
    public static func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }

    public var json: JSONValue {
        var o = JSONObject()
        o["to"] = .string(to.base)
        o["unix_ms"] = .number(Double(unixMillis))
        if let tenant { o["tenant"] = .string(tenant) }
        return .object(o)
    }

    /// Read back from a file: every field checked, since `to` becomes a header and `tenant`
    /// decides who may learn of it.
    public init(id: String, json: JSONValue) throws(JSONFieldError) {
        var r = try JSONObjectReader(json, path: "moved")
        let text = try r.string("to")
        guard let text, let to = MoveTarget(text) else {
            throw JSONFieldError(field: "moved.to", "expected \(MoveTarget.expectation), got \(text.map { "\"\($0.prefix(80))\"" } ?? "nothing")")
        }
        let ms = try r.double("unix_ms")
        guard let ms, ms == ms.rounded(), ms >= 0, ms < 1e15 else {
            throw JSONFieldError(field: "moved.unix_ms", "expected milliseconds since 1970 as an integer, got \(ms.map { "\($0)" } ?? "nothing")")
        }
        let tenant = try r.string("tenant")
        if let tenant, !TenantName.isValid(tenant) {
            throw JSONFieldError(field: "moved.tenant", "expected a tenant name (\(TenantName.expectation)), got \"\(tenant.prefix(80))\"")
        }
        try r.finish()
        self.init(id: id, to: to, tenant: tenant, unixMillis: Int64(ms))
    }

    /// How many moved-away ids a server remembers, and for how long. A move's client follows
    /// the `Location` within seconds; what is left are stale clients and proxies, and a week
    /// of 10,000 ids (a few MB) covers them without letting a churn of moves grow memory and
    /// the data directory without bound. Past either limit an id is a plain 404 again.
    public struct Retention: Sendable, Equatable {
        public var keep: Int
        public var maxAgeMillis: Int64

        public init(keep: Int = 10_000, maxAgeMillis: Int64 = 7 * 86_400_000) {
            self.keep = keep
            self.maxAgeMillis = maxAgeMillis
        }

        /// The ids of `records` to forget at `now`: those older than `maxAgeMillis`, then the
        /// oldest beyond `keep`.
        public func expired(_ records: some Collection<MovedAway>, now: Int64) -> [String] {
            let newestFirst = records.sorted { ($0.unixMillis, $0.id) > ($1.unixMillis, $1.id) }
            var kept = 0
            return newestFirst.compactMap { r in
                guard now - r.unixMillis <= maxAgeMillis, kept < keep else { return r.id }
                kept += 1
                return nil
            }
        }
    }
}
