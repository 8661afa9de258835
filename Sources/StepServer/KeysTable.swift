import StepHTTP
import Crypto
import Foundation
import StepCore
import StepJSON

/// The keys a server accepts: each key's SHA-256 with the principal it stands for, and each
/// tenant's quota. Built from a keys file, validated whole before it replaces the table in
/// force, so a half-valid file is never half applied:
///
/// ```json
/// {"keys": [{"sha256": "<64 hex digits>", "tenant": "team-a", "role": "trainer",
///            "max_sessions": 100, "max_param_bytes": 4000000000}]}
/// ```
///
/// Only hashes are stored: the file reveals no key, and a presented key is hashed and
/// compared against every stored hash in constant time (`match`).
struct KeysTable: Sendable {
    struct Key: Sendable {
        let digest: [UInt8]
        let principal: Principal
    }

    private(set) var keys: [Key] = []
    /// Per tenant, from its keys' `max_sessions`/`max_param_bytes`.
    private(set) var quotas: [String: TenantQuota] = [:]

    static let empty = KeysTable()
    private init() {}

    /// Reads and validates a keys file. `reserved` is the digest of `STEPD_TOKEN`, which may not
    /// appear in the file too: one key would then be two principals.
    static func load(path: String, reserved: [UInt8]?) throws(KeysFileError) -> KeysTable {
        let bytes: [UInt8]
        do {
            bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw KeysFileError(path: path, "cannot be read: \(error.localizedDescription)")
        }
        let json: JSONValue
        do { json = try JSONParser.parse(bytes) } catch {
            throw KeysFileError(path: path, "is not JSON: \(error)")
        }
        do { return try KeysTable(json: json, reserved: reserved) } catch {
            throw KeysFileError(path: path, field: error.field, error.message)
        }
    }

    init(json: JSONValue, reserved: [UInt8]?) throws(JSONFieldError) {
        var top = try JSONObjectReader(json, path: "")
        guard let entries = try top.array("keys") else {
            throw JSONFieldError(field: "keys", "is required: an array of {sha256, tenant, role, max_sessions?, max_param_bytes?}")
        }
        try top.finish()
        var seen: [[UInt8]: Int] = [:]
        /// Where each tenant's quota values were first given, for a message when keys disagree.
        var quotaSource: [String: (sessions: Int?, bytes: Int?)] = [:]
        for (i, entry) in entries.enumerated() {
            var r = try JSONObjectReader(entry, path: "keys[\(i)]")
            guard let hex = try r.string("sha256") else {
                throw JSONFieldError(field: r.field("sha256"), "is required: the SHA-256 of the key as 64 hex digits (printf %s \"$KEY\" | sha256sum)")
            }
            guard let digest = Self.digest(hex: hex) else {
                throw JSONFieldError(field: r.field("sha256"), "expected 64 hex digits (a SHA-256), got \(JSONValue.string(hex).preview)")
            }
            if let first = seen[digest] {
                throw JSONFieldError(field: r.field("sha256"), "is the same key as keys[\(first)]")
            }
            if let reserved, digest == reserved {
                throw JSONFieldError(field: r.field("sha256"), "is the hash of STEPD_TOKEN/--token-file, which is already the admin key without a tenant")
            }
            seen[digest] = i
            guard let tenant = try r.string("tenant") else {
                throw JSONFieldError(field: r.field("tenant"), "is required: the tenant whose sessions the key works on")
            }
            guard TenantName.isValid(tenant) else {
                throw JSONFieldError(field: r.field("tenant"), "expected \(TenantName.expectation), got \(JSONValue.string(tenant).preview)")
            }
            let roleNames = Role.allCases.map(\.rawValue).joined(separator: ", ")
            guard let roleName = try r.string("role") else {
                throw JSONFieldError(field: r.field("role"), "is required: one of \(roleNames)")
            }
            guard let role = Role(rawValue: roleName) else {
                throw JSONFieldError(field: r.field("role"), "expected one of \(roleNames), got \(JSONValue.string(roleName).preview)")
            }
            var quota = quotas[tenant] ?? .unlimited
            var source = quotaSource[tenant] ?? (nil, nil)
            if let n = try Self.limit(&r, "max_sessions") {
                if let earlier = source.sessions, quota.maxSessions != n {
                    throw JSONFieldError(field: r.field("max_sessions"), "is \(n), but keys[\(earlier)] gives tenant \"\(tenant)\" \(quota.maxSessions!); a quota is per tenant, so its keys must agree")
                }
                quota.maxSessions = n
                source.sessions = source.sessions ?? i
            }
            if let n = try Self.limit(&r, "max_param_bytes") {
                if let earlier = source.bytes, quota.maxParamBytes != n {
                    throw JSONFieldError(field: r.field("max_param_bytes"), "is \(n), but keys[\(earlier)] gives tenant \"\(tenant)\" \(quota.maxParamBytes!); a quota is per tenant, so its keys must agree")
                }
                quota.maxParamBytes = n
                source.bytes = source.bytes ?? i
            }
            try r.finish()
            quotas[tenant] = quota
            quotaSource[tenant] = source
            keys.append(Key(digest: digest, principal: Principal(tenant: tenant, role: role)))
        }
    }

    private static func limit(_ r: inout JSONObjectReader, _ key: String) throws(JSONFieldError) -> Int? {
        guard let n = try r.int(key) else { return nil }
        guard n >= 0 else { throw JSONFieldError(field: r.field(key), "expected an integer >= 0, got \(n)") }
        return n
    }

    /// 32 bytes from 64 hex digits (either case), or nil.
    static func digest(hex: String) -> [UInt8]? {
        let u = Array(hex.utf8)
        guard u.count == 64 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x61 + 10
            case 0x41...0x46: c - 0x41 + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for i in stride(from: 0, to: 64, by: 2) {
            guard let hi = nibble(u[i]), let lo = nibble(u[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
        }
        return out
    }

    static func sha256<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> [UInt8] {
        Array(SHA256.hash(data: Array(bytes)))
    }

    /// The principal whose key hashes to `digest`. Every stored hash is compared, each in time
    /// independent of where it differs, so timing tells at most whether some key matched,
    /// which the answer tells anyway.
    func match(_ digest: [UInt8]) -> Principal? {
        var found: Principal? = nil
        for key in keys where Self.constantTimeEqual(key.digest, digest) && found == nil {
            found = key.principal
        }
        return found
    }

    /// Only the length can leak, and digests all have the same length.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(truncatingIfNeeded: a.count ^ b.count)
        if a.count != b.count { diff |= 1 }
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            diff |= x ^ y
        }
        return diff == 0
    }
}
