/// Reads the fields of one JSON object and remembers which were read, so `finish()` can refuse
/// unknown keys. A typo such as `"weight_decy"` is then an error that names it, instead of a
/// silently ignored setting that changes a training run.
public struct JSONObjectReader {
    public let path: String
    public let object: JSONObject
    private var read: Set<String> = []

    public init(_ value: JSONValue, path: String) throws(JSONFieldError) {
        guard case .object(let o) = value else {
            throw JSONFieldError(field: path, "expected an object, got \(value.typeName)")
        }
        self.path = path
        self.object = o
    }

    public func field(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    public func has(_ key: String) -> Bool {
        if let v = object[key], v != .null { return true }
        return false
    }

    /// The raw value; `null` counts as absent.
    public mutating func value(_ key: String) -> JSONValue? {
        read.insert(key)
        guard let v = object[key], v != .null else { return nil }
        return v
    }

    public mutating func double(_ key: String) throws(JSONFieldError) -> Double? {
        guard let v = value(key) else { return nil }
        return try JSONObjectReader.number(v, field: field(key))
    }

    public mutating func double(_ key: String, default d: Double) throws(JSONFieldError) -> Double {
        try double(key) ?? d
    }

    public mutating func int(_ key: String) throws(JSONFieldError) -> Int? {
        guard let v = value(key) else { return nil }
        let d = try JSONObjectReader.number(v, field: field(key))
        guard d == d.rounded(), abs(d) < 9e15 else {
            throw JSONFieldError(field: field(key), "expected an integer, got \(v.preview)")
        }
        return Int(d)
    }

    public mutating func bool(_ key: String) throws(JSONFieldError) -> Bool? {
        guard let v = value(key) else { return nil }
        guard case .bool(let b) = v else {
            throw JSONFieldError(field: field(key), "expected true or false, got \(v.preview)")
        }
        return b
    }

    public mutating func string(_ key: String) throws(JSONFieldError) -> String? {
        guard let v = value(key) else { return nil }
        guard case .string(let s) = v else {
            throw JSONFieldError(field: field(key), "expected a string, got \(v.preview)")
        }
        return s
    }

    public mutating func array(_ key: String) throws(JSONFieldError) -> [JSONValue]? {
        guard let v = value(key) else { return nil }
        guard case .array(let a) = v else {
            throw JSONFieldError(field: field(key), "expected an array, got \(v.preview)")
        }
        return a
    }

    public mutating func object(_ key: String) throws(JSONFieldError) -> JSONObjectReader? {
        guard let v = value(key) else { return nil }
        return try JSONObjectReader(v, path: field(key))
    }

    /// Refuses keys nobody asked for, suggesting the closest known one.
    public func finish() throws(JSONFieldError) {
        for key in object.keys where !read.contains(key) {
            let known = read.sorted()
            let hint = JSONObjectReader.closest(to: key, in: known).map { " (did you mean \"\($0)\"?)" } ?? ""
            throw JSONFieldError(field: field(key), "unknown field\(hint); known fields: \(known.joined(separator: ", "))")
        }
    }

    /// A number, or one of the strings "nan", "inf", "-inf" that stand for what JSON cannot write.
    public static func number(_ v: JSONValue, field: String) throws(JSONFieldError) -> Double {
        switch v {
        case .number(let d): return d
        case .string("nan"), .string("NaN"): return .nan
        case .string("inf"), .string("Infinity"): return .infinity
        case .string("-inf"), .string("-Infinity"): return -.infinity
        default: throw JSONFieldError(field: field, "expected a number, got \(v.preview)")
        }
    }

    static func closest(to key: String, in candidates: [String]) -> String? {
        var best: (String, Int)? = nil
        for c in candidates {
            let d = editDistance(Array(key.utf8), Array(c.utf8))
            if d <= max(2, c.count / 3), d < (best?.1 ?? .max) { best = (c, d) }
        }
        return best?.0
    }

    private static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.count }
        var prev = Array(0...b.count)
        for i in 1...a.count {
            var cur = [i] + Array(repeating: 0, count: b.count)
            for j in stride(from: 1, through: b.count, by: 1) {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            prev = cur
        }
        return prev[b.count]
    }
}
