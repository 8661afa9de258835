import StepHTTP
import StepCore
import StepJSON

extension SessionError: HTTPErrorConvertible {
    /// StepCore's refusals as problems: the kinds map one to one onto statuses.
    public var httpError: HTTPError {
        switch self {
        case .invalid(let field, let detail):
            return .unprocessable(field: field.isEmpty ? nil : field, detail: description.isEmpty ? detail : description)
        case .conflict(let detail): return .conflict(detail)
        case .nonFinite(let detail): return .unprocessable(field: "grads", detail: detail)
        case .capacity(let detail): return .insufficientStorage(detail)
        case .stale: return .preconditionFailed(description)
        case .retired: return .notFound(description)
        case .busy(let detail): return .serviceUnavailable(detail, retryAfterSeconds: 1)
        case .moving(let id, let to): return .moved(id: id, to: to, detail: description)
        case .tooStale(let basedOn, let current, let k):
            return HTTPError(.conflict, detail: description, extra: JSONObject([("field", "based_on"), ("based_on", .number(Double(basedOn))),
                                                                                ("step", .number(Double(current))), ("max_staleness", .number(Double(k)))]))
        }
    }
}

extension HTTPError {
    /// 409 with `Location` naming the session's new home: its server's base URL plus the path.
    static func moved(id: String, to: String, detail: String) -> HTTPError {
        HTTPError(.conflict, detail: detail, extra: JSONObject([("moved_to", .string(to))]), headers: [.location: "\(to)/v1/sessions/\(id)"])
    }
}
