/// What a tenant may be called: 1–64 of `A-Za-z0-9._-`. One rule for the keys file that
/// declares tenants and for the checkpoint metadata that records a session's owner, so a name
/// that could not have come from a keys file cannot be planted through a file either; the
/// charset also keeps names harmless in logs and metric labels.
public enum TenantName {
    public static let maxLength = 64

    public static func isValid(_ name: String) -> Bool {
        let u = Array(name.utf8)
        guard (1...maxLength).contains(u.count) else { return false }
        return u.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
        }
    }

    /// The rule in words, for error messages.
    public static let expectation = "1–\(maxLength) of A-Z a-z 0-9 . _ -"
}
