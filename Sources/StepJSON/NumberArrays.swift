#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The long arrays of plain numbers in a JSON text (a gradient, a parameter tensor), parsed
/// before jansson sees the document, which gets a short marker string in
/// their place. jansson builds one heap node per number and parses each through a
/// locale-swapping `strtod`: for a 1K-parameter JSON step that was three quarters of the
/// server's CPU. jansson still parses the whole structure and everything else in it.
///
/// Nothing changes for a client: an array is taken only when every element is a valid JSON
/// number that jansson would accept (an integer literal of at most 18 digits, a real that does
/// not overflow), converted with the same correctly rounded `strtod` jansson uses and then
/// rounded to float32 as every body path does; anything else (strings such as "nan", nested
/// arrays, a number jansson refuses) leaves the array to jansson and its error messages. The
/// marker carries a per-document random tag, so a client cannot forge one.
final class NumberArrays {
    /// Arrays shorter than this stay with jansson: their marker would be longer than they are.
    static let minimumCount = 16

    private(set) var arrays: [[Float]] = []
    /// `\0` followed by 16 hex digits of a random tag and `:`; the marker is this plus the index.
    let prefix: [UInt8]
    /// The document text with each taken array replaced by its marker string.
    private(set) var text: [UInt8] = []

    init(scanning bytes: UnsafeRawBufferPointer) {
        let tag = UInt64.random(in: .min ... .max)
        prefix = Array("\\u0000".utf8) + Array(String(tag, radix: 16).utf8) + [UInt8(ascii: ":")]
        // `strtod` follows the C locale's decimal point; jansson swaps in "." itself. A process
        // whose locale writes decimals another way leaves every array to jansson.
        if let point = localeconv()?.pointee.decimal_point, point.pointee == CChar(UInt8(ascii: ".")) { scan(bytes) }
    }

    /// The index an extracted array's marker string (as jansson decoded it) names, or nil.
    func index(ofMarker s: UnsafeBufferPointer<UInt8>) -> Int? {
        // Decoded, the marker is NUL, the tag's hex digits, ':' and the decimal index.
        let tagLength = prefix.count - 6  // "\u0000" is six bytes of text, one decoded
        guard s.count > tagLength + 1, s[0] == 0 else { return nil }
        for i in 0..<tagLength where s[1 + i] != prefix[6 + i] { return nil }
        var k = 0
        for c in s[(1 + tagLength)...] {
            guard c >= 0x30 && c <= 0x39 else { return nil }
            k = k * 10 + Int(c - 0x30)
            if k >= arrays.count { return nil }
        }
        return k
    }

    private func scan(_ bytes: UnsafeRawBufferPointer) {
        let b = bytes.bindMemory(to: UInt8.self)
        let n = b.count
        var out: [UInt8] = []
        var copiedUpTo = 0
        var i = 0
        while i < n {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                // Skip the string, escapes included; an unterminated one is jansson's to report.
                i += 1
                while i < n, b[i] != UInt8(ascii: "\"") { i += b[i] == UInt8(ascii: "\\") ? 2 : 1 }
                i += 1
                continue
            }
            if c == UInt8(ascii: "["), let (end, values) = numbers(b, from: i) {
                if out.isEmpty { out.reserveCapacity(min(n, 4096)) }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: b[copiedUpTo..<i]))
                out.append(UInt8(ascii: "\""))
                out.append(contentsOf: prefix)
                out.append(contentsOf: String(arrays.count).utf8)
                out.append(UInt8(ascii: "\""))
                arrays.append(values)
                copiedUpTo = end
                i = end
                continue
            }
            i += 1
        }
        if !arrays.isEmpty { out.append(contentsOf: UnsafeBufferPointer(rebasing: b[copiedUpTo..<n])) }
        text = out
    }

    @inline(__always) private static func isSpace(_ c: UInt8) -> Bool {
        c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09
    }

    @inline(__always) private static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    /// The array starting at `start` (a `[`) if it is at least `minimumCount` numbers jansson
    /// would accept, with the index just past its `]`.
    private func numbers(_ b: UnsafeBufferPointer<UInt8>, from start: Int) -> (Int, [Float])? {
        let n = b.count
        var i = start + 1
        var values: [Float] = []
        while i < n, Self.isSpace(b[i]) { i += 1 }
        if i < n, b[i] == UInt8(ascii: "]") { return nil }
        while true {
            guard let (end, value) = number(b, from: i) else { return nil }
            values.append(value)
            i = end
            while i < n, Self.isSpace(b[i]) { i += 1 }
            guard i < n else { return nil }
            if b[i] == UInt8(ascii: "]") { break }
            guard b[i] == UInt8(ascii: ",") else { return nil }
            i += 1
            while i < n, Self.isSpace(b[i]) { i += 1 }
            if values.count == 1 { values.reserveCapacity(1024) }
        }
        return values.count >= Self.minimumCount ? (i + 1, values) : nil
    }

    /// One JSON number (RFC 8259 grammar) at `start` as float32: `Float(d)` for the correctly
    /// rounded double `d` jansson would make, or nil where jansson would refuse the number.
    ///
    /// Three ways, fastest first. (1) Clinger: up to 19 significant digits forming an integer
    /// m <= 2^53 and a power of ten 10^e with |e| <= 22 are both exact doubles, so m * 10^e (or
    /// m / 10^-e) rounded once is `d` itself. (2) Otherwise the same product, scaled in exact
    /// steps, is within a few ulps of `d`; rounding it to float32 gives `Float(d)` unless a
    /// float32 rounding boundary (a midpoint between two floats) lies within that error, which
    /// is checked with a wide margin. Python's float reprs of float32 values (17 digits) land
    /// here, far from any midpoint. (3) `strtod` for the rest.
    private func number(_ b: UnsafeBufferPointer<UInt8>, from start: Int) -> (Int, Float)? {
        let n = b.count
        var i = start
        let negative = i < n && b[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        guard i < n, Self.isDigit(b[i]) else { return nil }
        // The significant digits (up to 19) as an integer, and the power of ten they are scaled
        // by: enough for the exact fast path below.
        var mantissa: UInt64 = 0
        var digits = 0, exponent = 0
        var exact = true
        @inline(__always) func take(_ c: UInt8) {
            if mantissa == 0 && c == 0x30 { return }  // leading zeros carry no digits
            if digits < 19 { mantissa = mantissa * 10 + UInt64(c - 0x30); digits += 1 } else { exact = false }
        }
        let firstDigit = i
        if b[i] == UInt8(ascii: "0") {
            i += 1
        } else {
            while i < n, Self.isDigit(b[i]) {
                if digits >= 19 { exponent += 1 }
                take(b[i])
                i += 1
            }
        }
        var integer = true
        if i < n, b[i] == UInt8(ascii: ".") {
            integer = false
            i += 1
            guard i < n, Self.isDigit(b[i]) else { return nil }
            while i < n, Self.isDigit(b[i]) {
                if digits < 19 { exponent -= 1 }
                take(b[i])
                i += 1
            }
        }
        if i < n, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            integer = false
            i += 1
            var expNegative = false
            if i < n, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { expNegative = b[i] == UInt8(ascii: "-"); i += 1 }
            guard i < n, Self.isDigit(b[i]) else { return nil }
            var e = 0
            while i < n, Self.isDigit(b[i]) {
                if e < 100_000 { e = e * 10 + Int(b[i] - 0x30) }
                i += 1
            }
            exponent += expNegative ? -e : e
        }
        // The character after a number must end it; `]`/`,`/space are checked by the caller,
        // and anything else (a letter: "1x") fails there too.
        if integer, i - firstDigit > 18 { return nil }  // jansson: json_int_t range, refused beyond
        guard i < n else { return nil }  // strtod needs a terminator inside the buffer
        var result: Float?
        if exact, mantissa <= 1 << 53, (-22...22).contains(exponent) {
            let d = exponent < 0 ? Double(mantissa) / Self.powersOfTen[-exponent] : Double(mantissa) * Self.powersOfTen[exponent]
            result = Float(negative ? -d : d)
        } else if (-66...66).contains(exponent) {
            // Dropped digits (past 19) change m by less than one unit in 10^18: within the margin.
            var d = Double(mantissa)
            var e = exponent
            while e < -22 { d /= Self.powersOfTen[22]; e += 22 }
            while e > 22 { d *= Self.powersOfTen[22]; e -= 22 }
            d = e < 0 ? d / Self.powersOfTen[-e] : d * Self.powersOfTen[e]
            result = Self.float32(near: negative ? -d : d)
        }
        if result == nil {
            // strtod stops at the first character that cannot continue the number, which the
            // grammar check above puts exactly at `i`: the array's `,`, `]` or whitespace.
            let d = b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: n) { strtod($0 + start, nil) }
            guard d.isFinite else { return nil }  // jansson refuses "real number overflow"
            result = Float(d)
        }
        // jansson reads an integer literal as an integer: "-0" is 0, not -0.
        return (i, integer && result == 0 ? 0 : result!)
    }

    /// `Float(d)` for the exact value `d` approximates to within a few ulps, or nil when that
    /// cannot be told from `d`: a float32 rounding boundary is within 64 ulps of it, or it is
    /// near the ends of float32's normal range.
    @inline(__always)
    private static func float32(near d: Double) -> Float? {
        let m = abs(d)
        guard m > 1e-37, m < 3e38 else { return m == 0 ? Float(d) : nil }
        let f = Float(d)
        let here = Double(f), margin = 64 * m.ulp
        let below = (here + Double(f.nextDown)) / 2, above = (here + Double(f.nextUp)) / 2
        return abs(d - below) > margin && abs(d - above) > margin ? f : nil
    }

    /// 10^0 ... 10^22, each exact in a double.
    private static let powersOfTen: [Double] = (0...22).map { k in (0..<k).reduce(1.0) { r, _ in r * 10 } }
}
