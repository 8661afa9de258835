import Foundation
import Testing
@testable import StepJSON

/// Long number arrays parsed straight to float32 (`NumberArrays`) give exactly what jansson's
/// doubles rounded to float32 give, and the same documents are accepted and refused, with the
/// same errors.
@Suite struct NumberArrayExtractionTests {
    static func parse(_ text: String, extracting: Bool) throws -> JSONDocument {
        try Array(text.utf8).withUnsafeBytes { raw in
            try Result { () throws(JSONSyntaxError) in try JSONDocument(parsing: raw, float32Arrays: extracting) }.get()
        }
    }

    /// The floats of the array at `path` (keys), read as the body paths read them.
    static func floats(_ doc: JSONDocument, _ path: [String]) -> [Float]? {
        withExtendedLifetime(doc) {
            var node = doc.root
            for key in path {
                guard let next = node.members.first(where: { $0.key == key })?.node else { return nil }
                node = next
            }
            guard node.isArray else { return nil }
            var out = [Float](repeating: .nan, count: node.count)
            let bad = out.withUnsafeMutableBufferPointer { node.readFloats(into: $0) }
            return bad == nil ? out : nil
        }
    }

    static func body(_ numbers: [String]) -> String {
        #"{"grads": {"w": [\#(numbers.joined(separator: ", "))]}, "loss": 0.5}"#
    }

    /// Number spellings that stress the conversion: ties, subnormals, long mantissas, exponents,
    /// signed zeros, integers near the int64 edge.
    static let spellings = [
        "0", "-0", "0.0", "-0.0", "1", "-1", "0.1", "1e-45", "1.4e-45", "7e-46", "3.4028235e38", "3.4028236e38",
        "1.00000005960464477539062", "1.0000000596046448", "0.10000000149011612", "-1.5E+3", "2.5e-310",
        "123456789012345678", "-999999999999999999", "16777217", "0.333333333333333314829616256247390992939472198486328125",
        "1E2", "1e+2", "4.9406564584124654e-324", "1.7976931348623157e308",
        // The exact fast path's edges: 2^53 and one past it, 19 and 20 digits, 10^22 and 10^23.
        "9007199254740992", "9007199254740993.0", "1234567890123456789e-5", "12345678901234567890e-5", "1e22", "1e23",
        "0.000000000000000000000001", "123.456e-20", "0.00300", "-0.0000", "1.5e-22", "7.0e22", "0e5", "-0e-5",
        // Float32 rounding boundaries written exactly (ties go to even), and just off them.
        "1.00000005960464477539062500", "1.0000000596046447753906249", "1.0000000596046447753906251",
        "0.10000000894069671630859375", "3.0000001192092895507812500e-10", "1.1754942e-38", "1.17549435e-38",
        "6.103515625e-05", "16777217.0", "16777219.0", "33554434.999999999999", "123456789012345678901234567890e-40",
    ]

    @Test("every spelling converts to the float jansson's path gives, bit for bit")
    func spellingsMatchJansson() throws {
        let numbers = Self.spellings + Self.spellings  // at least 16 elements, so the array is taken
        let text = Self.body(numbers)
        let fast = try Self.parse(text, extracting: true), slow = try Self.parse(text, extracting: false)
        let a = try #require(Self.floats(fast, ["grads", "w"])), b = try #require(Self.floats(slow, ["grads", "w"]))
        #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
    }

    /// The whole document as a Swift value, with the document kept alive while it is read.
    static func value(_ doc: JSONDocument) -> JSONValue { withExtendedLifetime(doc) { doc.root.value } }

    @Test("random arrays of Python-style float repr convert exactly as jansson's path does", arguments: 0..<20)
    func randomArraysMatchJansson(_ seed: Int) throws {
        var rng = SeededGenerator(seed: UInt64(seed))
        let numbers = (0..<(16 + seed * 37)).map { _ -> String in
            let x = Double(Float(bitPattern: UInt32.random(in: 0...0x7F7F_FFFF, using: &rng))) * (Bool.random(using: &rng) ? -1 : 1)
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: return "\(x)"
            case 1: return String(format: "%.9g", x)
            default:
                // Random digits (1 to 21 of them) around a decimal point, with an exponent.
                let digits = String((0..<Int.random(in: 1...21, using: &rng)).map { _ in Character(String(Int.random(in: 0...9, using: &rng))) })
                let point = Int.random(in: 0...digits.count, using: &rng)
                var text = digits.prefix(point).isEmpty ? "0" : String(digits.prefix(point))
                if text.count > 1, text.hasPrefix("0") { text = "1" + text.dropFirst() }
                if point < digits.count { text += "." + digits.dropFirst(point) }
                return text + "e\(Int.random(in: -30...30, using: &rng))"
            }
        }
        let text = Self.body(numbers)
        let a = try #require(Self.floats(try Self.parse(text, extracting: true), ["grads", "w"]))
        let b = try #require(Self.floats(try Self.parse(text, extracting: false), ["grads", "w"]))
        #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
    }

    @Test("exact float32 midpoints and their neighbours, written out in full, round as strtod then Float does")
    func midpointsMatchJansson() throws {
        var rng = SeededGenerator(seed: 99)
        var numbers: [String] = []
        for _ in 0..<400 {
            let f = Float(bitPattern: UInt32.random(in: 0x0080_0000...0x7F00_0000, using: &rng))
            let mid = (Double(f) + Double(f.nextUp)) / 2
            for d in [mid, mid.nextUp, mid.nextDown] { numbers.append(String(format: "%.40e", d)) }
        }
        let text = Self.body(numbers)
        let a = try #require(Self.floats(try Self.parse(text, extracting: true), ["grads", "w"]))
        let b = try #require(Self.floats(try Self.parse(text, extracting: false), ["grads", "w"]))
        #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
    }

    @Test("documents jansson refuses are refused with the same message and position", arguments: [
        Self.body(Array(repeating: "1", count: 20) + ["12345678901234567890"]),  // too big integer
        Self.body(Array(repeating: "1", count: 20) + ["1e400"]),                 // real overflow
        Self.body(Array(repeating: "1", count: 20)) + "x",                        // trailing garbage
        #"{"a": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17], "a": 1}"#,  // duplicate key
        #"{"a": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17] "b": 1}"#,   // missing comma
        #"{"a": [01, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]}"#,        // leading zero
    ])
    func refusalsMatchJansson(_ text: String) {
        var fast: JSONSyntaxError?, slow: JSONSyntaxError?
        do { _ = try Self.parse(text, extracting: true) } catch { fast = error as? JSONSyntaxError }
        do { _ = try Self.parse(text, extracting: false) } catch { slow = error as? JSONSyntaxError }
        #expect(slow != nil, "jansson accepted \(text)")
        #expect(fast?.description == slow?.description)
    }

    @Test("arrays that are not all plain numbers, and text inside strings, are left to jansson")
    func nonNumericArraysAreLeftAlone() throws {
        let mixed = #"{"w": ["nan", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], "s": "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]", "n": [[1], 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]}"#
        let fast = try Self.parse(mixed, extracting: true), slow = try Self.parse(mixed, extracting: false)
        #expect(Self.value(fast) == Self.value(slow))
        let w = try #require(Self.floats(fast, ["w"]))
        #expect(w[0].isNaN && w[16] == 16)
    }

    @Test("a client cannot forge the marker: a string that looks like one stays a string")
    func forgedMarkerStaysAString() throws {
        let text = #"{"w": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], "x": "\u0000123456789abcdef0:0"}"#
        let doc = try Self.parse(text, extracting: true)
        #expect(Self.value(doc)["x"] == Self.value(try Self.parse(text, extracting: false))["x"])
        #expect(withExtendedLifetime(doc) { !doc.root.members[1].node.isArray })
    }

    @Test("short arrays stay with jansson; long ones are taken (the text jansson sees shrinks)")
    func onlyLongArraysAreTaken() {
        let short = Array(#"{"w": [1, 2, 3]}"#.utf8)
        #expect(short.withUnsafeBytes { NumberArrays(scanning: $0).arrays.isEmpty })
        let long = Array(Self.body((0..<1000).map { "0.00\($0)" }).utf8)
        let scanned = long.withUnsafeBytes { NumberArrays(scanning: $0) }
        #expect(scanned.arrays.count == 1 && scanned.arrays[0].count == 1000)
        #expect(scanned.text.count < 100)
    }
}

/// SplitMix64, so a failing seed reproduces.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
