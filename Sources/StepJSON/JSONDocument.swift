import CJansson

/// A parsed JSON document left in jansson's own tree. Bodies whose bulk is long arrays of
/// numbers (gradients, parameters, a safetensors header's tensor table) are read from here
/// straight into place: converting them to `JSONValue` first cost about 35 bytes of memory
/// per body byte and most of the parse time. Small parts are converted with `JSONNode.value`.
public final class JSONDocument {
    private let rootNode: UnsafeMutablePointer<json_t>
    private let byteCount: Int
    /// The long number arrays, parsed before jansson saw the document (see `NumberArrays`).
    private let arrays: NumberArrays?

    /// Parses with jansson, rejecting duplicate keys, which would otherwise let
    /// `{"lr": 0.1, "lr": 10}` mean whatever the parser happened to keep.
    /// - Parameter float32Arrays: for tensor bodies, whose numbers are only ever used as
    ///   float32: long arrays of plain numbers are parsed straight to float32 (`NumberArrays`),
    ///   much faster than through jansson, with the same results; `value` then shows them as
    ///   those float32 values. Off, every number keeps jansson's double.
    public init(parsing bytes: UnsafeRawBufferPointer, float32Arrays: Bool = false) throws(JSONSyntaxError) {
        let scanned = float32Arrays ? NumberArrays(scanning: bytes) : nil
        guard let scanned, !scanned.arrays.isEmpty else {
            arrays = nil
            rootNode = try Self.load(bytes)
            byteCount = bytes.count
            return
        }
        do {
            rootNode = try scanned.text.withUnsafeBytes { text in Result { () throws(JSONSyntaxError) in try Self.load(text) } }.get()
            arrays = scanned
        } catch {
            // Positions in the error must be the client's: the original text fails the same way.
            rootNode = try Self.load(bytes)
            arrays = nil
        }
        byteCount = bytes.count
    }

    private static func load(_ bytes: UnsafeRawBufferPointer) throws(JSONSyntaxError) -> UnsafeMutablePointer<json_t> {
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
        return root
    }

    public convenience init(parsing bytes: [UInt8], float32Arrays: Bool = false) throws(JSONSyntaxError) {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(JSONSyntaxError) in try JSONDocument(parsing: raw, float32Arrays: float32Arrays) } }
        self.init(adopting: try result.get())
    }

    private init(adopting other: JSONDocument) {
        rootNode = stepd_json_incref(other.rootNode)
        byteCount = other.byteCount
        arrays = other.arrays
    }

    deinit {
        stepd_json_decref(rootNode)
        // A large tree is millions of small allocations; without this glibc keeps the freed
        // heap, and one big body leaves the process hundreds of MB larger for good.
        if byteCount >= 1 << 20 { stepd_release_free_heap() }
    }

    /// The root node; valid while the document is alive (use it inside `withExtendedLifetime`
    /// or while holding the document).
    public var root: JSONNode { JSONNode(node: rootNode, arrays: arrays) }
}

/// A borrowed node of a `JSONDocument`.
public struct JSONNode {
    let node: UnsafeMutablePointer<json_t>
    let arrays: NumberArrays?

    private var type: json_type { json_type(rawValue: UInt32(stepd_json_typeof(node))) }

    /// The pre-parsed array this node's marker string stands for, if it is one.
    private var extracted: [Float]? {
        guard let arrays, type == JSON_STRING else { return nil }
        let len = json_string_length(node)
        return json_string_value(node)!.withMemoryRebound(to: UInt8.self, capacity: len) {
            arrays.index(ofMarker: UnsafeBufferPointer(start: $0, count: len)).map { arrays.arrays[$0] }
        }
    }

    public var isObject: Bool { type == JSON_OBJECT }
    public var isArray: Bool { type == JSON_ARRAY || extracted != nil }

    /// An object's members in document order (jansson keeps insertion order); empty otherwise.
    public var members: [(key: String, node: JSONNode)] {
        guard isObject else { return [] }
        var out: [(String, JSONNode)] = []
        out.reserveCapacity(json_object_size(node))
        var iter = json_object_iter(node)
        while let it = iter {
            if let child = json_object_iter_value(it) { out.append((String(cString: json_object_iter_key(it)), JSONNode(node: child, arrays: arrays))) }
            iter = json_object_iter_next(node, it)
        }
        return out
    }

    /// An array's length; 0 otherwise.
    public var count: Int {
        if type == JSON_ARRAY { return json_array_size(node) }
        return extracted?.count ?? 0
    }

    /// An element of a jansson array (an extracted array is read with `readFloats` or `value`).
    public subscript(index: Int) -> JSONNode { JSONNode(node: json_array_get(node, index), arrays: arrays) }

    /// This subtree as a Swift value: for the small parts of a document.
    public var value: JSONValue {
        switch type {
        case JSON_OBJECT:
            return .object(JSONObject(uniquePairs: members.map { ($0.key, $0.node.value) }))
        case JSON_ARRAY:
            let n = json_array_size(node)
            var out: [JSONValue] = []
            out.reserveCapacity(n)
            for i in 0..<n { out.append(JSONNode(node: json_array_get(node, i), arrays: arrays).value) }
            return .array(out)
        case JSON_STRING:
            if let floats = extracted { return .array(floats.map { .number(Double($0)) }) }
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

    /// This node as a number: JSON numbers, and the strings `JSONObjectReader.number` accepts
    /// for what JSON cannot write ("nan", "inf", "-inf").
    public var number: Double? {
        switch type {
        case JSON_REAL: return json_real_value(node)
        case JSON_INTEGER: return Double(json_integer_value(node))
        case JSON_STRING: return try? JSONObjectReader.number(value, field: "")
        default: return nil
        }
    }

    /// Reads an array of numbers into `destination` as float32 (rounded from the double the
    /// parser made, as every other path does). Returns the index of the first element that is
    /// not a number, or nil when all were written. The caller checks `count` first.
    public func readFloats(into destination: UnsafeMutableBufferPointer<Float>) -> Int? {
        if let floats = extracted {
            let n = min(floats.count, destination.count)
            floats.withUnsafeBufferPointer { destination.baseAddress!.update(from: $0.baseAddress!, count: n) }
            return nil
        }
        let n = min(count, destination.count)
        for i in 0..<n {
            let child = json_array_get(node, i)!
            let d: Double
            switch json_type(rawValue: UInt32(stepd_json_typeof(child))) {
            case JSON_REAL: d = json_real_value(child)
            case JSON_INTEGER: d = Double(json_integer_value(child))
            default:
                guard let x = JSONNode(node: child, arrays: arrays).number else { return i }
                d = x
            }
            destination[i] = Float(d)
        }
        return nil
    }
}
