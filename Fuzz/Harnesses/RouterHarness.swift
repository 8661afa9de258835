import StepHTTP
import StepHTTPTesting
import StepServer
import HTTPTypes

/// A whole request written as text, the way it looks on the wire, so seeds are readable:
///
///     METHOD TARGET[ anything]
///     Name: value
///     ...
///     <empty line>
///     body
///
/// (lines end in \n or \r\n; a header line without ':' is skipped). It goes through a fresh
/// `StepService().router()` holding session "s" after one step, with bearer token
/// `fuzz-token`, so that every input starts from the same state and a crash replays alone.
/// Method, path, query and headers are whatever the input says; the body is fed in three chunks.
enum RouterHarness {
    static func run(_ data: UnsafeRawBufferPointer) {
        guard let request = parse(Array(data)) else { return }
        let (_, router) = Fixtures.serviceWithSession(token: Fixtures.token)
        let chunkSize = max(1, request.body.count / 3 + 1)
        let response = router.handle(request.head, body: request.body, chunkSize: chunkSize)
        Fixtures.check(response, "\(request.head.method) \(request.head.path) \(request.head.queryItems) \(request.head.headers.map { "\($0.name): \($0.value)" })")
    }

    static func parse(_ bytes: [UInt8]) -> (head: HTTPRequestHead, body: [UInt8])? {
        var lines: [String] = []
        var at = 0
        var body: [UInt8] = []
        while at < bytes.count {
            let end = bytes[at...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            var line = bytes[at..<end]
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            at = end + 1
            if line.isEmpty && !lines.isEmpty {
                if at < bytes.count { body = Array(bytes[at...]) }
                break
            }
            lines.append(String(decoding: line, as: UTF8.self))
            if lines.count > 64 { break }
        }
        guard let first = lines.first else { return nil }
        let words = first.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard let method = HTTPRequest.Method(String(words[0])) else { return nil }
        let target = words.count > 1 ? String(words[1]) : "/"
        var headers = HTTPFields()
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let value = line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
            // Names that are not tokens never reach a route: the server answers 400 first.
            guard let name = HTTPField.Name(String(line[..<colon])) else { continue }
            headers.append(HTTPField(name: name, value: String(value)))
        }
        return (HTTPRequestHead(method: method, target: target, headers: headers), body)
    }
}
