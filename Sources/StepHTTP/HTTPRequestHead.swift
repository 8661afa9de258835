import HTTPTypes
/// What a route sees before any body byte arrives: enough to decide whether to accept the
/// body, where to put it, and what to answer, without having read it.
public struct HTTPRequestHead: Sendable {
    public var method: HTTPRequest.Method
    /// The percent-decoded path, without the query.
    public var path: String
    /// Decoded query items in the order sent; a key without `=` has an empty value.
    public var queryItems: [(name: String, value: String)]
    public var headers: HTTPFields
    /// Who sent the request, set by the router's `Authenticator` before any handler runs; nil
    /// on paths that need no key and on routers without an authenticator.
    public var principal: Principal?
    /// Why the server could not represent the request as sent (a method or field name that is
    /// not a token); the exchange refuses it with 400 before routing.
    package var malformed: String?

    public init(method: HTTPRequest.Method, path: String, queryItems: [(name: String, value: String)] = [],
                headers: HTTPFields = [:]) {
        self.method = method
        self.path = path
        self.queryItems = queryItems
        self.headers = headers
    }

    /// The first value of a query parameter, or nil when absent.
    public func query(_ name: String) -> String? {
        queryItems.first(where: { $0.name == name })?.value
    }

    /// The declared body length, or nil when absent or not a non-negative decimal (the server
    /// has already refused those; in-process requests may omit it).
    public var contentLength: Int? {
        // The first field's value: `headers[.contentLength]` would join repeated fields.
        guard let text = headers[values: .contentLength].first, !text.isEmpty,
              text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(text)
    }

    /// Whether body bytes follow the head: a positive Content-Length, or a transfer coding.
    public var hasBody: Bool {
        if let n = contentLength { return n > 0 }
        return headers.contains(.transferEncoding)
    }

    /// The media type of `Content-Type`, lower-cased and without parameters
    /// (`application/json; charset=utf-8` → `application/json`), for 415 decisions.
    public var mediaType: String? {
        guard let raw = headers[.contentType] else { return nil }
        let type = raw.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)[0]
        return type.trimmingSpaces().lowercased()
    }
}

extension Substring {
    package func trimmingSpaces() -> String {
        var s = self[...]
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return String(s)
    }
}
