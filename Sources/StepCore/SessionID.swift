/// What a session may be called: 1–64 of `A-Za-z0-9._-`, not starting with a dot. One rule for
/// every place an id arrives or is used: the API (`POST`/`PUT /v1/sessions`, a checkpoint's
/// `session_id`), which routes and proxies put in URLs, and the snapshot store, which makes it a
/// directory name (so no `/`, no leading dot that would hide it or spell `..`).
public enum SessionID {
    public static let maxLength = 64

    public static func isValid(_ id: String) -> Bool {
        let u = Array(id.utf8)
        guard (1...maxLength).contains(u.count), u[0] != UInt8(ascii: ".") else { return false }
        return u.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
        }
    }

    /// The rule in words, for error messages.
    public static let expectation = "1–\(maxLength) of A-Z a-z 0-9 . _ -, not starting with a dot"
}
