/// Resolves who sent a request from its head, before any routing, or refuses it (throwing a
/// 401/403 `HTTPError`), so a client without a valid key learns nothing about which paths
/// exist. The application supplies it (keys, tenants); the router only calls it.
public protocol RequestAuthenticator: Sendable {
    func principal(for head: HTTPRequestHead) throws -> Principal?
}
