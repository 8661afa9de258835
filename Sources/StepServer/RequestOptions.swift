import StepHTTP
import StepCore

/// Per-request knobs read from the head: query parameters and the retry-safety headers.
struct RequestOptions {
    var expectedStep: Int?
    var idempotencyKey: String?

    init(_ head: HTTPRequestHead) throws {
        if let raw = head.headers[.ifMatch] {
            expectedStep = try RequestOptions.parseETag(raw)
        }
        if let key = head.headers[.idempotencyKey] {
            guard (1...255).contains(key.utf8.count) else {
                throw HTTPError.badRequest("Idempotency-Key must be 1 to 255 characters, got \(key.utf8.count)", field: "Idempotency-Key")
            }
            idempotencyKey = key
        }
    }

    /// `"12"`, `W/"12"` or `12` → 12; `*` → nil (matches any step).
    static func parseETag(_ raw: String) throws -> Int? {
        var s = Substring(raw).trimmingSpaces()
        if s == "*" { return nil }
        if s.hasPrefix("W/") { s = String(s.dropFirst(2)) }
        if s.hasPrefix("\""), s.hasSuffix("\""), s.count >= 2 { s = String(s.dropFirst().dropLast()) }
        guard let n = Int(s), n >= 0 else {
            throw HTTPError.badRequest("If-Match must be a step ETag such as \"12\", got \(raw)", field: "If-Match")
        }
        return n
    }

    static func etag(_ step: Int) -> String { "\"\(step)\"" }
}

extension HTTPRequestHead {
    func intQuery(_ name: String, in range: ClosedRange<Int> = 0...Int.max) throws -> Int? {
        guard let raw = query(name) else { return nil }
        guard let v = Int(raw), range.contains(v) else {
            throw HTTPError.unprocessable(field: name, detail: "query parameter \(name) must be an integer in \(range.lowerBound)...\(range.upperBound), got \"\(raw.prefix(40))\"")
        }
        return v
    }

    func doubleQuery(_ name: String) throws -> Double? {
        guard let raw = query(name) else { return nil }
        switch raw.lowercased() {
        case "nan": return .nan
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        default:
            guard let v = Double(raw) else {
                throw HTTPError.unprocessable(field: name, detail: "query parameter \(name) must be a number, got \"\(raw.prefix(40))\"")
            }
            return v
        }
    }

    /// `?names=a,b` as a list, nil when absent.
    var names: [String]? {
        guard let raw = query("names") else { return nil }
        return raw.split(separator: ",").map(String.init).filter { !$0.isEmpty }
    }

    /// The first acceptable media type among `offered` per the Accept header (q-values honoured
    /// coarsely: q=0 excludes); nil if none fits. No Accept or `*/*` gives the first offered.
    func negotiate(_ offered: [String]) -> String? {
        guard let accept = headers[.accept], !accept.isEmpty else { return offered.first }
        var ranked: [(type: String, q: Double, order: Int)] = []
        for (i, part) in accept.split(separator: ",").enumerated() {
            let pieces = part.split(separator: ";")
            let type = pieces[0].trimmingSpaces().lowercased()
            var q = 1.0
            for p in pieces.dropFirst() {
                let kv = p.trimmingSpaces()
                if kv.hasPrefix("q="), let v = Double(kv.dropFirst(2)) { q = v }
            }
            ranked.append((type, q, i))
        }
        ranked.sort { $0.q != $1.q ? $0.q > $1.q : $0.order < $1.order }
        for r in ranked where r.q > 0 {
            if r.type == "*/*" { return offered.first }
            if r.type.hasSuffix("/*") {
                let prefix = r.type.dropLast(1)
                if let hit = offered.first(where: { $0.hasPrefix(prefix) }) { return hit }
            }
            if let hit = offered.first(where: { $0 == r.type }) { return hit }
        }
        return nil
    }
}
