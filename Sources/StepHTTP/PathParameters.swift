/// Values captured by `{name}` segments of the matched pattern.
public struct PathParameters: Sendable {
    var values: [(name: String, value: String)] = []

    public init() {}
    public init(_ values: [(String, String)]) { self.values = values.map { ($0.0, $0.1) } }

    public subscript(name: String) -> String? {
        values.first(where: { $0.name == name })?.value
    }

    /// For names the pattern guarantees; a typo in a handler becomes a 500, not a crash.
    public func require(_ name: String) throws(HTTPError) -> String {
        guard let v = self[name] else { throw HTTPError.internalError("route has no path parameter '\(name)'") }
        return v
    }

    public var isEmpty: Bool { values.isEmpty }
}
