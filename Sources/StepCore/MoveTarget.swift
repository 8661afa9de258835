import Foundation

/// Where a moving session goes: the base URL of its new server, which becomes the `Location`
/// of every refusal on the old one. Only a scheme and an authority, so what a client is sent to
/// is that server's own `/v1/sessions/{id}`. It becomes a response header, so it is checked
/// wherever it comes from: a request, or a file in the data directory.
public struct MoveTarget: Sendable, Equatable {
    public let base: String

    public init?(_ text: String) {
        let trimmed = text.hasSuffix("/") ? String(text.dropLast()) : text
        guard trimmed.count <= 2048, trimmed.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f }),
              let c = URLComponents(string: trimmed), c.scheme == "http" || c.scheme == "https",
              let host = c.host, !host.isEmpty, c.path.isEmpty, c.query == nil, c.fragment == nil, c.user == nil else { return nil }
        base = trimmed
    }

    public static let expectation = "the base URL of the session's new server (http:// or https://, no path, query or spaces)"
}
