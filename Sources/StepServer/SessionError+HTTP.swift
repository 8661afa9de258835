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
        }
    }
}
