/// The integrity check stepd puts in the files it writes: `__metadata__["checksum"]` =
/// `"crc32c:xxxxxxxx"` (8 lowercase hex digits), the CRC-32C of the WHOLE file as written with
/// those 8 digits read as ASCII `0`.
///
/// Covering the header, not just the tensor bytes, matters: a flipped bit in the metadata (the
/// step number, a learning rate, the config) still parses, and would otherwise restore a
/// session that is silently wrong. Zeroing the digits instead of leaving the entry out keeps
/// the header's length fixed, so a writer can stream header and data in one pass and patch the
/// digits in at the end. Anyone can re-check a file: find `"checksum":"crc32c:` in the header
/// (the writer emits compact JSON, so it appears exactly once), replace the 8 digits after it
/// with `00000000`, and CRC-32C the file.
public enum SafetensorsChecksum {
    public static let metadataKey = "checksum"
    public static let prefix = "crc32c:"
    /// What the writer puts in the header before the data's checksum is known.
    static let placeholder = prefix + "00000000"

    public static func format(_ crc: UInt32) -> String {
        let hex = String(crc, radix: 16)
        return prefix + String(repeating: "0", count: 8 - hex.count) + hex
    }

    /// The value of a well-formed entry, or nil.
    public static func parse(_ text: String) -> UInt32? {
        let u = Array(text.utf8)
        let p = Array(prefix.utf8)
        guard u.count == p.count + 8, u.starts(with: p) else { return nil }
        var v: UInt32 = 0
        for c in u[p.count...] {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = v << 4 | UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = v << 4 | UInt32(c - UInt8(ascii: "a") + 10)
            default: return nil
            }
        }
        return v
    }

    /// The offset, within the header JSON, of the 8 hex digits of the checksum entry.
    /// Inside a JSON string every `"` is escaped, so `"checksum":"crc32c:` can only be the real
    /// key and value; a header that spells the entry differently (spaces, escapes) is refused.
    static func digitsOffset(inHeaderJSON json: UnsafeRawBufferPointer) throws(SafetensorsError) -> Int {
        let needle = Array("\"\(metadataKey)\":\"\(prefix)".utf8)
        var found: Int? = nil
        if json.count >= needle.count {
            outer: for i in 0...(json.count - needle.count) where json[i] == needle[0] {
                for j in 1..<needle.count where json[i + j] != needle[j] { continue outer }
                if found != nil { throw .checksumMalformed("the entry appears twice") }
                found = i + needle.count
            }
        }
        guard let at = found, at + 8 <= json.count else {
            throw .checksumMalformed("not written as compact JSON \"\(metadataKey)\":\"\(prefix)xxxxxxxx\"")
        }
        return at
    }

    /// Starts a CRC over a file's first `dataStart` bytes with the digits at `digitsAt` zeroed.
    static func begin(header: UnsafeRawBufferPointer, digitsAt: Int) -> CRC32C {
        var crc = CRC32C()
        crc.update(UnsafeRawBufferPointer(rebasing: header[0..<digitsAt]))
        crc.update("00000000")
        crc.update(UnsafeRawBufferPointer(rebasing: header[(digitsAt + 8)...]))
        return crc
    }
}
