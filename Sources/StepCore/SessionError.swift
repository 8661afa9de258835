import StepJSON

/// Why a session refused a request. Every case means nothing changed. The kinds map one to one
/// onto HTTP statuses in StepServer; StepCore itself knows nothing of HTTP.
public enum SessionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Well-formed but invalid input: names the field, the value and what is allowed (422).
    case invalid(field: String, detail: String)
    /// A contribution that was already counted, or a conflicting state (409).
    case conflict(String)
    /// Gradients with NaN or Inf under `nonfinite: "error"` (422).
    case nonFinite(String)
    /// Parameters are over a configured limit (507).
    case capacity(String)
    /// `If-Match` named a step the session has moved past (412).
    case stale(expected: Int, current: Int)
    /// A buffer for this request would take the server past its memory limit while other
    /// requests hold theirs; retrying shortly can succeed (503).
    case busy(String)
    /// The session was deleted or replaced while the request was in flight (404): nothing
    /// that was still on its way may bring it back.
    case retired(id: String)

    public init(_ e: JSONFieldError) { self = .invalid(field: e.field, detail: e.message) }

    public var description: String {
        switch self {
        case .invalid(let field, let detail): field.isEmpty ? detail : "\(field): \(detail)"
        case .conflict(let s), .nonFinite(let s), .capacity(let s), .busy(let s): s
        case .stale(let expected, let current): "the request expected step \(expected), but the session is at step \(current)"
        case .retired(let id): "session \"\(id.prefix(80))\" was deleted or replaced while this request was in flight; nothing was applied"
        }
    }
}

extension JSONObjectReader {
    /// A finite number within bounds; `what` describes the allowed range for the error message.
    mutating func number(_ key: String, default d: Double, _ what: String, _ ok: (Double) -> Bool) throws(JSONFieldError) -> Double {
        let v = try double(key) ?? d
        guard v.isFinite, ok(v) else { throw JSONFieldError(field: field(key), "must be \(what), got \(v)") }
        return v
    }

    mutating func integer(_ key: String, default d: Int, _ what: String, _ ok: (Int) -> Bool) throws(JSONFieldError) -> Int {
        let v = try int(key) ?? d
        guard ok(v) else { throw JSONFieldError(field: field(key), "must be \(what), got \(v)") }
        return v
    }
}
