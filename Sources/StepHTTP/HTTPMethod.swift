/// A request method. A struct rather than an enum because clients may send any token and the
/// router must still answer 405 (with `Allow`) instead of failing to represent the request.
public struct HTTPMethod: RawRepresentable, Hashable, Sendable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }

    public var description: String { rawValue }

    public static let get: HTTPMethod = "GET"
    public static let head: HTTPMethod = "HEAD"
    public static let post: HTTPMethod = "POST"
    public static let put: HTTPMethod = "PUT"
    public static let patch: HTTPMethod = "PATCH"
    public static let delete: HTTPMethod = "DELETE"
    public static let options: HTTPMethod = "OPTIONS"

    /// The methods stepd can route. Anything else is labelled "other" in metrics so that a
    /// client inventing methods cannot grow the label set without bound.
    static let known: Set<HTTPMethod> = [.get, .head, .post, .put, .patch, .delete, .options]
}
