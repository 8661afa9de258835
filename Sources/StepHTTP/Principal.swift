/// Who sent a request, as the router's `Authenticator` resolved it from the bearer key before
/// any handler ran. Handlers consult it for every session they touch: a session of another
/// tenant answers 404 exactly like a missing one, so ids do not leak across tenants.
public struct Principal: Sendable, Equatable, CustomStringConvertible {
    /// The tenant whose sessions this key works on, and that owns what it creates. Nil only
    /// for the admin of `STEPD_TOKEN`/`--token-file` and for a server without keys; sessions
    /// they create belong to no tenant, and only admins see those.
    public var tenant: String?
    public var role: Role

    public init(tenant: String?, role: Role) {
        self.tenant = tenant
        self.role = role
    }

    /// Every request of a server started without `STEPD_TOKEN`, `--token-file` or
    /// `--keys-file`: an admin without a tenant, which is how stepd behaved before keys.
    public static let unauthenticatedAdmin = Principal(tenant: nil, role: .admin)

    /// Whether a session owned by `owner` exists for this caller at all.
    public func canSee(owner: String?) -> Bool {
        role == .admin || (tenant != nil && owner == tenant)
    }

    public var description: String {
        tenant.map { "a \(role.rawValue) key of tenant \"\($0)\"" } ?? "the \(role.rawValue) token"
    }
}
