import HTTPTypes
/// The whole HTTP behaviour of stepd as a value: routes, the authenticator, the body limit and
/// the metrics to record into. The server only moves bytes between libmicrohttpd and a
/// router, so everything here is testable in-process with `handle(_:body:)`.
public struct Router: Sendable {
    public typealias Handler = @Sendable (HTTPRequestHead, PathParameters) throws -> RouteAction

    struct Route: Sendable {
        let method: HTTPRequest.Method
        let pattern: RoutePattern
        let handler: Handler
    }

    /// The largest request body accepted, in bytes. A larger `Content-Length` is refused
    /// before the body is read; a chunked body is cut off (and drained) once it passes this.
    public var maxBodyBytes: Int
    /// How much of a refused request's body is read and dropped so that the client, still
    /// sending, reads the answer instead of a connection reset (nginx's lingering close): a
    /// refusal decided from the head waits for a body of at most this many bytes. Longer bodies,
    /// and clients that sent `Expect: 100-continue` (they wait for the answer before sending), get
    /// the answer at once and the connection closes; the ConnectionDeadlines bound the time.
    public var maxDiscardBytes = 64 << 20
    /// Where request counts go; nil in tests that do not care.
    public var metrics: Metrics?
    /// Called for errors that are not HTTP errors (they become a bare 500), so they reach a log.
    public var onUnexpectedError: (@Sendable (any Error, HTTPRequestHead) -> Void)?
    /// Resolves `HTTPRequestHead.principal` before routing, or refuses the request (401/403).
    /// It runs before the 404/405 decision so that a client without a valid key learns nothing
    /// about which paths exist. Nil: no authentication, and every principal stays nil.
    public var authenticator: (any RequestAuthenticator)?

    private(set) var routes: [Route] = []
    /// Routes without parameters by exact path: the common small requests (`/healthz`,
    /// `/metrics`, `/v1/sessions`) skip the segment walk.
    private var literal: [String: [Route]] = [:]

    public init(maxBodyBytes: Int = 256 << 20, metrics: Metrics? = nil) {
        self.maxBodyBytes = maxBodyBytes
        self.metrics = metrics
    }

    // MARK: registration

    public mutating func on(_ method: HTTPRequest.Method, _ pattern: String, _ handler: @escaping Handler) {
        let p = RoutePattern(pattern)
        precondition(!routes.contains { $0.method == method && $0.pattern.segments == p.segments },
                     "duplicate route \(method) \(pattern)")
        let route = Route(method: method, pattern: p, handler: handler)
        routes.append(route)
        if p.specificity == p.segments.count { literal[pattern, default: []].append(route) }
    }

    public mutating func get(_ pattern: String, _ handler: @escaping Handler) { on(.get, pattern, handler) }
    public mutating func post(_ pattern: String, _ handler: @escaping Handler) { on(.post, pattern, handler) }
    public mutating func put(_ pattern: String, _ handler: @escaping Handler) { on(.put, pattern, handler) }
    public mutating func patch(_ pattern: String, _ handler: @escaping Handler) { on(.patch, pattern, handler) }
    public mutating func delete(_ pattern: String, _ handler: @escaping Handler) { on(.delete, pattern, handler) }

    // MARK: matching

    public enum Match {
        case found(pattern: RoutePattern, parameters: PathParameters, handler: Handler)
        case methodNotAllowed(pattern: RoutePattern, allowed: [HTTPRequest.Method])
        case notFound
    }

    /// The most literal pattern that fits the path and has the method wins. HEAD falls back
    /// to GET (libmicrohttpd sends the headers and drops the body).
    public func match(_ method: HTTPRequest.Method, path: String) -> Match {
        if let exact = literal[path], let hit = exact.first(where: { $0.method == method }) {
            return .found(pattern: hit.pattern, parameters: PathParameters(), handler: hit.handler)
        }
        let parts = RoutePattern.split(path)
        var fitting: [(route: Route, params: PathParameters)] = []
        for route in routes {
            if let params = route.pattern.match(parts) { fitting.append((route, params)) }
        }
        guard !fitting.isEmpty else { return .notFound }
        fitting.sort { $0.route.pattern.specificity > $1.route.pattern.specificity }
        for wanted in method == .head ? [HTTPRequest.Method.head, .get] : [method] {
            if let hit = fitting.first(where: { $0.route.method == wanted }) {
                return .found(pattern: hit.route.pattern, parameters: hit.params, handler: hit.route.handler)
            }
        }
        var allowed: [HTTPRequest.Method] = []
        for (route, _) in fitting where !allowed.contains(route.method) { allowed.append(route.method) }
        if allowed.contains(.get) && !allowed.contains(.head) { allowed.append(.head) }
        return .methodNotAllowed(pattern: fitting[0].route.pattern, allowed: allowed)
    }
}
