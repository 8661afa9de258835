import StepHTTP
import StepJSON
import HTTPTypes

// The in-process face of StepHTTP: requests built from a target string, run through exactly
// the path the server uses, and answers read back whole. For tests, fuzzing and the
// conformance replay's in-process layer; the server itself never calls these.

extension HTTPRequestHead {
    /// Builds a head from a raw request target (`/v1/x?a=1`), decoding it the way the server
    /// does, so in-process requests exercise the same routing as requests off the socket.
    public init(method: HTTPRequest.Method, target: String, headers: HTTPFields = [:]) {
        let parsed = RequestTarget.parse(target)
        self.init(method: method, path: parsed.path, queryItems: parsed.query, headers: headers)
    }
}

extension HTTPFields {
    /// Fields from (name, value) pairs as a test or harness writes them; a name that is not a
    /// token is a mistake in the caller, not input to refuse.
    public init(_ pairs: [(String, String)]) {
        self.init()
        for (name, value) in pairs {
            guard let n = HTTPField.Name(name) else { preconditionFailure("field name \(name) is not a token") }
            append(HTTPField(name: n, value: value))
        }
    }
}

extension HTTPRequest.Method {
    /// A method a test names by string; traps on a non-token, which only the server refuses.
    public init(token: String) {
        guard let m = Self(token) else { preconditionFailure("method \(token) is not a token") }
        self = m
    }
}

extension Router {
    /// Runs a request through exactly the path the server uses, feeding `body` chunk by
    /// chunk. A head without `Content-Length` is treated as chunked when chunks are given.
    public func handle(_ head: HTTPRequestHead, body chunks: [[UInt8]] = []) -> Response {
        let exchange = RequestExchange(router: self, head: head)
        let expectsBody = head.hasBody || chunks.contains { !$0.isEmpty }
        if let early = exchange.start(expectsBody: expectsBody) { return early }
        for chunk in chunks where !chunk.isEmpty {
            chunk.withUnsafeBytes { exchange.receive($0) }
        }
        return exchange.finish()
    }

    /// `handle` with one body split into `chunkSize` pieces.
    public func handle(_ head: HTTPRequestHead, body: [UInt8], chunkSize: Int = 16 * 1024) -> Response {
        let size = max(1, chunkSize)
        let chunks = stride(from: 0, to: body.count, by: size).map { Array(body[$0..<min($0 + size, body.count)]) }
        return handle(head, body: chunks)
    }
}

extension Response {
    /// The whole body as bytes, running a stream to its end.
    public func collectBody() throws -> [UInt8] {
        switch body {
        case .bytes(let b): return b
        case .stream(let s): return try s.collect()
        }
    }

    /// The body parsed as JSON.
    public func jsonBody() throws -> JSONValue { try JSONParser.parse(try collectBody()) }
}

/// A body handler from closures, for handlers whose state fits in a capture.
public final class ClosureBodyHandler: RequestBodyHandler {
    private let onChunk: (UnsafeRawBufferPointer) throws -> Void
    private let onFinish: () throws -> Response
    private let onAbandon: () -> Void

    public init(consume: @escaping (UnsafeRawBufferPointer) throws -> Void,
                finish: @escaping () throws -> Response,
                abandon: @escaping () -> Void = {}) {
        onChunk = consume
        onFinish = finish
        onAbandon = abandon
    }

    public func consume(_ chunk: UnsafeRawBufferPointer) throws { try onChunk(chunk) }
    public func finish() throws -> Response { try onFinish() }
    public func abandon() { onAbandon() }
}
