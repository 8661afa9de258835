/// The optional shared-secret check. The comparison takes the same time wherever the first
/// differing byte is, so the token cannot be guessed byte by byte from response times.
public struct BearerTokenAuth: Sendable {
    private let expected: [UInt8]
    public let prefix: String

    public init(token: String, prefix: String = "/v1") {
        expected = Array(token.utf8)
        self.prefix = prefix
    }

    public func protects(_ path: String) -> Bool {
        path == prefix || path.hasPrefix(prefix.hasSuffix("/") ? prefix : prefix + "/")
    }

    public func check(_ head: HTTPRequestHead) throws(HTTPError) {
        guard protects(head.path) else { return }
        guard let value = head.headers["Authorization"] else {
            throw .unauthorized("this path requires an Authorization: Bearer token")
        }
        let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw .unauthorized("the Authorization header must use the Bearer scheme")
        }
        guard Self.constantTimeEqual(Array(parts[1].trimmingSpaces().utf8), expected) else {
            throw .unauthorized("the bearer token is not valid", invalidToken: true)
        }
    }

    /// Only the length can leak, and the token's length is not the secret.
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
