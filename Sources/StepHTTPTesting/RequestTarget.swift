/// Splits and decodes a request target the way libmicrohttpd does (path percent-decoded,
/// query items split on `&` and `=`, `+` read as a space), so that a head built in-process
/// routes exactly like one built from a socket.
enum RequestTarget {
    static func parse(_ target: String) -> (path: String, query: [(name: String, value: String)]) {
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = decode(parts[0], plusIsSpace: false)
        guard parts.count > 1 else { return (path, []) }
        var items: [(name: String, value: String)] = []
        for piece in parts[1].split(separator: "&", omittingEmptySubsequences: true) {
            let kv = piece.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            items.append((decode(kv[0], plusIsSpace: true),
                          kv.count > 1 ? decode(kv[1], plusIsSpace: true) : ""))
        }
        return (path, items)
    }

    /// Malformed escapes are kept literally, as libmicrohttpd keeps them.
    static func decode(_ s: Substring, plusIsSpace: Bool) -> String {
        let bytes = Array(s.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "%"), i + 2 < bytes.count,
               let hi = hex(bytes[i + 1]), let lo = hex(bytes[i + 2]) {
                out.append(hi << 4 | lo)
                i += 3
            } else {
                out.append(plusIsSpace && b == UInt8(ascii: "+") ? UInt8(ascii: " ") : b)
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
