/// Writes JSON straight into a byte buffer. Responses carry float32 tensors, and writing each
/// value with Float's shortest round-trip form keeps them exact and about half the size of the
/// double-precision text a json_t tree would produce. Non-finite numbers, which JSON cannot
/// express, are written as the strings "nan", "inf" and "-inf", as in the conformance files.
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(reservingCapacity capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    public mutating func write(_ value: JSONValue) {
        switch value {
        case .null: raw("null")
        case .bool(let b): raw(b ? "true" : "false")
        case .number(let d): number(d)
        case .string(let s): string(s)
        case .array(let items):
            bytes.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                write(item)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let object):
            bytes.append(UInt8(ascii: "{"))
            for (i, pair) in object.pairs.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                string(pair.key)
                bytes.append(UInt8(ascii: ":"))
                write(pair.value)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    public mutating func raw(_ text: String) { bytes.append(contentsOf: text.utf8) }

    public mutating func number(_ d: Double) {
        if d.isNaN { raw("\"nan\""); return }
        if d.isInfinite { raw(d > 0 ? "\"inf\"" : "\"-inf\""); return }
        if d == d.rounded(), abs(d) < 1e15 { raw(String(Int64(d))); return }
        raw(d.description)
    }

    public mutating func number(_ f: Float) {
        if !f.isFinite { number(Double(f)); return }
        if f == f.rounded(), abs(f) < 1e7 { raw(String(Int64(f))); return }
        raw(f.description)
    }

    /// A float32 tensor as a JSON array, without building an intermediate value per element.
    public mutating func floats(_ values: UnsafeBufferPointer<Float>) {
        bytes.append(UInt8(ascii: "["))
        for (i, v) in values.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            number(v)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    public mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for unit in s.utf8 {
            switch unit {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case 0x0A: raw("\\n")
            case 0x0D: raw("\\r")
            case 0x09: raw("\\t")
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                raw("\\u00")
                bytes.append(hex[Int(unit >> 4)])
                bytes.append(hex[Int(unit & 0xF)])
            default: bytes.append(unit)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

extension JSONValue {
    /// The compact JSON text of this value.
    public var encoded: [UInt8] {
        var w = JSONWriter()
        w.write(self)
        return w.bytes
    }

    public var text: String { String(decoding: encoded, as: UTF8.self) }
}
