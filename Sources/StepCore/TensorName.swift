/// The names a tensor (or group) may have: every name must survive every place it is written
/// unchanged and unambiguous: safetensors keys (where `__metadata__` is reserved), JSON object
/// keys, snapshot metadata, and `?names=a,b` lists (which split on commas). A name that cannot
/// is refused at create, not discovered when a checkpoint fails to load.
public enum TensorName {
    public static let maxBytes = 256

    /// Why `name` cannot be used, or nil if it can.
    public static func problem(_ name: String) -> String? {
        if name.isEmpty { return "is required (a non-empty string)" }
        if name.utf8.count > maxBytes { return "is \(name.utf8.count) bytes long; at most \(maxBytes) are allowed" }
        if name == "__metadata__" { return "\"__metadata__\" is reserved by the safetensors format" }
        if let c = name.unicodeScalars.first(where: { $0.value < 0x20 || $0.value == 0x7F || $0 == "," }) {
            let shown = c == "," ? "','" : "U+\(String(c.value, radix: 16, uppercase: true).leftPadded4)"
            return "\"\(name.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : String($0) }.joined().prefix(80))\" contains \(shown); control characters and commas are not allowed"
        }
        return nil
    }
}

private extension String {
    var leftPadded4: String { count >= 4 ? self : String(repeating: "0", count: 4 - count) + self }
}
