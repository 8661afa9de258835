import StepJSON
import HTTPTypes

/// The error a handler throws to answer with a problem. Handlers stay linear (`guard ...
/// else { throw .notFound(...) }`) and the router turns it into the response, with the
/// headers some statuses require (`Allow` on 405, `WWW-Authenticate` on 401).
public struct HTTPError: Error, Sendable, Equatable, CustomStringConvertible {
    public var problem: Problem
    public var headers: HTTPFields

    public init(_ problem: Problem, headers: HTTPFields = [:]) {
        self.problem = problem
        self.headers = headers
    }

    public init(_ status: HTTPResponse.Status, detail: String, extra: JSONObject = JSONObject(),
                headers: HTTPFields = [:]) {
        self.init(Problem(status: status, detail: detail, extra: extra), headers: headers)
    }

    public var status: HTTPResponse.Status { problem.status }
    public var description: String { "\(problem.status): \(problem.detail ?? problem.title)" }

    public var response: Response { .problem(problem, headers: headers) }

    /// Whether the answer ends the connection (`Connection: close`), as for broken framing.
    public var closesConnection: Bool { headers[.connection]?.lowercased() == "close" }

    /// 400: the body or a parameter cannot be parsed at all.
    public static func badRequest(_ detail: String, field: String? = nil) -> HTTPError {
        HTTPError(.badRequest, detail: detail, extra: fieldMember(field))
    }

    /// 400 (or `status`) for a request whose body cannot be delimited unambiguously. It says
    /// `Connection: close`: whatever follows on the connection may be the rest of this body or a
    /// smuggled request, so nothing more is read from it.
    public static func badFraming(_ detail: String, status: HTTPResponse.Status = .badRequest) -> HTTPError {
        HTTPError(status, detail: detail, headers: [.connection: "close"])
    }

    /// 401 with the challenge RFC 6750 asks for; `invalid` distinguishes a wrong token from
    /// a missing one.
    public static func unauthorized(_ detail: String, invalidToken: Bool = false) -> HTTPError {
        let challenge = invalidToken ? "Bearer realm=\"stepd\", error=\"invalid_token\"" : "Bearer realm=\"stepd\""
        return HTTPError(.unauthorized, detail: detail, headers: [.wwwAuthenticate: challenge])
    }

    /// 403: the caller is known and may see the resource, but not do this to it.
    public static func forbidden(_ detail: String) -> HTTPError { HTTPError(.forbidden, detail: detail) }

    public static func notFound(_ detail: String) -> HTTPError { HTTPError(.notFound, detail: detail) }

    /// 405 with `Allow` listing what the path does accept.
    public static func methodNotAllowed(_ method: HTTPRequest.Method, path: String, allowed: [HTTPRequest.Method]) -> HTTPError {
        let list = allowed.map(\.rawValue).joined(separator: ", ")
        return HTTPError(.methodNotAllowed, detail: "\(method) is not allowed on \(path); allowed: \(list)",
                         headers: [.allow: list])
    }

    public static func conflict(_ detail: String, field: String? = nil) -> HTTPError {
        HTTPError(.conflict, detail: detail, extra: fieldMember(field))
    }

    public static func preconditionFailed(_ detail: String) -> HTTPError {
        HTTPError(.preconditionFailed, detail: detail)
    }

    public static func contentTooLarge(limit: Int, received: Int? = nil, hint: String? = nil) -> HTTPError {
        var extra = JSONObject()
        extra["limit"] = .number(Double(limit))
        let what = received.map { "\($0) bytes" } ?? "the body"
        return HTTPError(.contentTooLarge, detail: "request body of \(what) exceeds the limit of \(limit) bytes\(hint.map { "; \($0)" } ?? "")",
                         extra: extra)
    }

    public static func unsupportedMediaType(_ got: String?, supported: [String]) -> HTTPError {
        let list = supported.joined(separator: ", ")
        let detail = got.map { "Content-Type \($0) is not supported here; use one of: \(list)" }
            ?? "Content-Type is missing; use one of: \(list)"
        return HTTPError(.unsupportedMediaType, detail: detail, headers: [.acceptPost: list])
    }

    /// 422: well-formed but invalid. `field` is the JSON path of the offending member
    /// (`optimizer.betas[1]`), also sent as the `field` member so clients need not parse prose.
    public static func unprocessable(field: String? = nil, detail: String) -> HTTPError {
        HTTPError(.unprocessableContent, detail: detail, extra: fieldMember(field))
    }

    public static func tooManyRequests(_ detail: String, retryAfterSeconds: Int? = nil) -> HTTPError {
        HTTPError(.tooManyRequests, detail: detail, headers: retryAfter(retryAfterSeconds))
    }

    public static func serviceUnavailable(_ detail: String, retryAfterSeconds: Int? = nil) -> HTTPError {
        HTTPError(.serviceUnavailable, detail: detail, headers: retryAfter(retryAfterSeconds))
    }

    /// 507: a memory or session quota would be exceeded.
    public static func insufficientStorage(_ detail: String) -> HTTPError {
        HTTPError(.insufficientStorage, detail: detail)
    }

    public static func internalError(_ detail: String = "internal error") -> HTTPError {
        HTTPError(.internalServerError, detail: detail)
    }

    private static func fieldMember(_ field: String?) -> JSONObject {
        var o = JSONObject()
        if let field { o["field"] = .string(field) }
        return o
    }

    private static func retryAfter(_ seconds: Int?) -> HTTPFields {
        seconds.map { [.retryAfter: String($0)] } ?? [:]
    }
}

/// Lets lower layers' errors become precise problems without those layers knowing HTTP:
/// StepServer adds a conformance for each error type it maps, and the router uses it for any
/// error a handler throws.
public protocol HTTPErrorConvertible: Error {
    var httpError: HTTPError { get }
}

extension HTTPError {
    /// The response for any error: HTTPError as is, convertible errors mapped, and anything
    /// else a 500 whose detail does not leak internals.
    public static func from(_ error: any Error) -> HTTPError {
        if let e = error as? HTTPError { return e }
        if let e = error as? any HTTPErrorConvertible { return e.httpError }
        if let p = error as? Problem { return HTTPError(p) }
        return .internalError()
    }
}

extension JSONSyntaxError: HTTPErrorConvertible {
    public var httpError: HTTPError { .badRequest("malformed JSON: \(description)") }
}

extension JSONFieldError: HTTPErrorConvertible {
    public var httpError: HTTPError {
        .unprocessable(field: field.isEmpty ? nil : field, detail: description)
    }
}
