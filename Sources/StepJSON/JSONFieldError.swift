/// A well-formed document whose content is wrong: names the field (a path like
/// `optimizer.betas[1]`), what was found and what was expected.
public struct JSONFieldError: Error, Sendable, Equatable, CustomStringConvertible {
    public let field: String
    public let message: String

    public init(field: String, _ message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { field.isEmpty ? message : "\(field): \(message)" }
}

extension JSONValue {
    /// A short rendering of a value for error messages; long arrays are elided.
    public var preview: String {
        switch self {
        case .array(let a) where a.count > 4: return "an array of \(a.count) items"
        case .object: return "an object"
        default:
            let t = text
            return t.count > 60 ? String(t.prefix(57)) + "..." : t
        }
    }
}
