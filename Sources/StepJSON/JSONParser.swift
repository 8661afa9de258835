import CJansson

/// Why a body is not JSON, with jansson's position so a client can find the byte.
public struct JSONSyntaxError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public let line: Int
    public let column: Int
    public let position: Int
    public var description: String { "\(message) at line \(line), column \(column) (byte \(position))" }
}

/// Parses with jansson (the project's JSON library), rejecting duplicate keys, which would
/// otherwise let `{"lr": 0.1, "lr": 10}` mean whatever the parser happened to keep.
public enum JSONParser {
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONSyntaxError) -> JSONValue {
        var error = json_error_t()
        let flags = JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL
        guard let base = bytes.baseAddress ?? (bytes.count == 0 ? UnsafeRawPointer(bitPattern: 1) : nil),
              let root = json_loadb(base.assumingMemoryBound(to: CChar.self), bytes.count, Int(flags), &error)
        else {
            let text = withUnsafeBytes(of: &error.text) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            throw JSONSyntaxError(message: text.isEmpty ? "empty body" : text, line: Int(error.line),
                                  column: Int(error.column), position: Int(error.position))
        }
        defer { stepd_json_decref(root) }
        return convert(root)
    }

    public static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(JSONSyntaxError) in try parse(raw) } }
        return try result.get()
    }

    public static func parse(_ text: String) throws(JSONSyntaxError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    private static func convert(_ node: UnsafeMutablePointer<json_t>) -> JSONValue {
        switch json_type(rawValue: UInt32(stepd_json_typeof(node))) {
        case JSON_OBJECT:
            var object = JSONObject()
            var iter = json_object_iter(node)
            while let it = iter {
                let key = String(cString: json_object_iter_key(it))
                if let child = json_object_iter_value(it) { object[key] = convert(child) }
                iter = json_object_iter_next(node, it)
            }
            return .object(object)
        case JSON_ARRAY:
            let n = json_array_size(node)
            var out: [JSONValue] = []
            out.reserveCapacity(n)
            for i in 0..<n { out.append(convert(json_array_get(node, i))) }
            return .array(out)
        case JSON_STRING:
            let len = json_string_length(node)
            let p = json_string_value(node)!
            return .string(p.withMemoryRebound(to: UInt8.self, capacity: len) {
                String(decoding: UnsafeBufferPointer(start: $0, count: len), as: UTF8.self)
            })
        case JSON_INTEGER: return .number(Double(json_integer_value(node)))
        case JSON_REAL: return .number(json_real_value(node))
        case JSON_TRUE: return .bool(true)
        case JSON_FALSE: return .bool(false)
        default: return .null
        }
    }
}
