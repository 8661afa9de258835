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
    /// The session is being moved to (or now lives at) the server at base URL `to`; changes
    /// are refused so the copy taken for the move stays the whole truth (409, `Location`).
    case moving(id: String, to: String)
    /// The gradient was computed from parameters older than the session allows
    /// (`max_staleness`, 409).
    case tooStale(basedOn: Int, current: Int, maxStaleness: Int)

    public init(_ e: JSONFieldError) { self = .invalid(field: e.field, detail: e.message) }

    public var description: String {
        switch self {
        case .invalid(let field, let detail): field.isEmpty ? detail : "\(field): \(detail)"
        case .conflict(let s), .nonFinite(let s), .capacity(let s), .busy(let s): s
        case .stale(let expected, let current): "the request expected step \(expected), but the session is at step \(current)"
        case .retired(let id): "session \"\(id.prefix(80))\" was deleted or replaced while this request was in flight; nothing was applied"
        case .moving(let id, let to): "session \"\(id.prefix(80))\" is being moved to \(to); nothing was applied, send it there once the move is done"
        case .tooStale(let basedOn, let current, let k): "the gradient is based on step \(basedOn), \(current - basedOn) steps behind the session's step \(current); max_staleness allows \(k)"
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
