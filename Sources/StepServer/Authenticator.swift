import StepHTTP

/// Resolves a request's bearer key to a `Principal`, or refuses it, before routing, so a
/// client without a valid key learns nothing about which paths exist.
///
/// - `/v1` and below need a key whenever one is configured: `STEPD_TOKEN`/`--token-file` (an
///   admin without a tenant) and/or the keys of `--keys-file`. With neither, every request is
///   `Principal.unauthenticatedAdmin`, as before keys existed.
/// - `/metrics` labels series by tenant, so with a keys file it needs an admin key (401/403);
///   without one it stays open, as before.
/// - Everything else (`/healthz`) is open and says nothing private.
///
/// The keys file's table is replaced whole by `reload()` (SIGHUP) behind one lock; a file that
/// does not validate leaves the table in force untouched.
public final class Authenticator: RequestAuthenticator {
    public static let protectedPrefix = "/v1"

    /// The file `reload()` reads, or nil when keys come only from `STEPD_TOKEN`.
    public let keysFile: String?
    /// SHA-256 of `STEPD_TOKEN`/`--token-file`, fixed for the server's life.
    private let tokenDigest: [UInt8]?
    private let table: LockedValue<KeysTable>

    /// Only the single admin token (nil or empty: no authentication at all).
    public init(token: String? = nil) {
        tokenDigest = token.flatMap { $0.isEmpty ? nil : KeysTable.sha256($0.utf8) }
        keysFile = nil
        table = LockedValue(.empty)
    }

    /// The keys of `keysFile`, plus `token` as an admin without a tenant if given. A file that
    /// does not validate is an error naming the field: the server must not start on it.
    public init(token: String? = nil, keysFile: String) throws(KeysFileError) {
        let digest = token.flatMap { $0.isEmpty ? nil : KeysTable.sha256($0.utf8) }
        tokenDigest = digest
        self.keysFile = keysFile
        table = LockedValue(try KeysTable.load(path: keysFile, reserved: digest))
    }

    /// Re-reads `keysFile` and, only if all of it validates, puts it in force; returns the
    /// number of keys now in force. On error the previous keys stay.
    @discardableResult
    public func reload() throws(KeysFileError) -> Int {
        guard let keysFile else { throw KeysFileError(path: "(none)", "the server was started without --keys-file") }
        let fresh = try KeysTable.load(path: keysFile, reserved: tokenDigest)
        table.withLock { $0 = fresh }
        return fresh.keys.count
    }

    /// Whether any key is configured; without one, /v1 is open to all as an admin.
    public var requiresKeys: Bool { tokenDigest != nil || keysFile != nil }

    /// Keys of the keys file in force (`STEPD_TOKEN` not counted).
    public var keyCount: Int { table.withLock { $0.keys.count } }

    /// The tenants the keys name, for metrics series that should exist before their first session.
    public var tenants: [String] { table.withLock { $0.quotas.keys.sorted() } }

    /// The quota of `tenant` in the keys in force; none for sessions without a tenant.
    public func quota(of tenant: String?) -> TenantQuota {
        guard let tenant else { return .unlimited }
        return table.withLock { $0.quotas[tenant] } ?? .unlimited
    }

    /// Who sent `head`: nil on an open path, else the key's principal.
    /// - Throws: 401 when a needed key is missing or unknown, 403 for a non-admin on /metrics.
    public func principal(for head: HTTPRequestHead) throws(HTTPError) -> Principal? {
        let path = head.path
        let prefix = Self.protectedPrefix
        if path == prefix || path.hasPrefix(prefix + "/") {
            return requiresKeys ? try resolve(head) : .unauthenticatedAdmin
        }
        if path == "/metrics", keysFile != nil {
            let p = try resolve(head)
            guard p.role == .admin else {
                throw .forbidden("/metrics names every tenant, so with a keys file it needs an admin key; this is \(p)")
            }
            return p
        }
        return nil
    }

    private func resolve(_ head: HTTPRequestHead) throws(HTTPError) -> Principal {
        guard let value = head.headers[.authorization] else {
            throw .unauthorized("this path requires an Authorization: Bearer token")
        }
        let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw .unauthorized("the Authorization header must use the Bearer scheme")
        }
        let digest = KeysTable.sha256(parts[1].trimmingSpaces().utf8)
        // Both compared whatever the first says, so timing does not tell which kind of key it was.
        let isToken = tokenDigest.map { KeysTable.constantTimeEqual($0, digest) } ?? false
        let key = table.withLock { $0.match(digest) }
        if isToken { return .init(tenant: nil, role: .admin) }
        guard let key else { throw .unauthorized("the bearer token is not valid", invalidToken: true) }
        return key
    }
}
