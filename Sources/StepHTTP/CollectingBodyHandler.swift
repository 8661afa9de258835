import StepJSON

/// A server-wide memory allowance that collected request bodies draw from as they arrive (the
/// application's own accounting of sessions and buffers), so many large uploads at once are
/// refused with 503 instead of exhausting memory.
public protocol BodyMemoryBudget: AnyObject, Sendable {
    func reserve(_ bytes: Int) -> Bool
    func release(_ bytes: Int)
    /// How the limit is set and how much of it is taken, for the 503's detail.
    var state: String { get }
}

/// Collects a whole body into one array and hands it over at the end: JSON documents, and
/// safetensors files, which are read by offset. `limit` lets a route accept less than the
/// server-wide body limit: a config document has no business being 100 MB even when gradient
/// uploads may be. With a `budget`, the bytes held count against the server's memory limit as
/// they arrive, so many large uploads at once are refused (503) instead of exhausting memory.
public final class CollectingBodyHandler: RequestBodyHandler {
    private var bytes: [UInt8] = []
    private let limit: Int?
    private let hint: String?
    private let budget: (any BodyMemoryBudget)?
    private var reserved = 0
    private let complete: ([UInt8]) throws -> Response

    public init(limit: Int? = nil, hint: String? = nil, budget: (any BodyMemoryBudget)? = nil, expectedLength: Int? = nil,
                complete: @escaping ([UInt8]) throws -> Response) {
        self.limit = limit
        self.hint = hint
        self.budget = budget
        self.complete = complete
        if let expectedLength { bytes.reserveCapacity(min(expectedLength, limit ?? expectedLength)) }
    }

    deinit { budget?.release(reserved) }

    public func consume(_ chunk: UnsafeRawBufferPointer) throws {
        if let limit, bytes.count + chunk.count > limit {
            throw HTTPError.contentTooLarge(limit: limit, hint: hint)
        }
        if let budget, bytes.count + chunk.count > reserved {
            // Reserved in steps of at least 1 MiB, so a large body takes the lock rarely.
            let step = max(bytes.count + chunk.count - reserved, 1 << 20)
            guard budget.reserve(step) else {
                throw HTTPError.serviceUnavailable("this request body would take the server past its memory limit (\(budget.state)); retry when the requests in flight finish", retryAfterSeconds: 1)
            }
            reserved += step
        }
        bytes.append(contentsOf: chunk)
    }

    public func finish() throws -> Response {
        let body = bytes
        bytes = []
        return try complete(body)
    }

    public func abandon() { bytes = [] }
}

extension RouteAction {
    /// Reads the whole body, then answers from it.
    public static func collectBody(limit: Int? = nil, budget: (any BodyMemoryBudget)? = nil,
                                   _ complete: @escaping ([UInt8]) throws -> Response) -> RouteAction {
        .readBody(CollectingBodyHandler(limit: limit, budget: budget, complete: complete))
    }

    /// Reads the whole body as JSON: a wrong media type is 415, a syntax error 400 (with the
    /// position), an empty body 400; the closure gets the parsed document.
    public static func jsonBody(_ head: HTTPRequestHead, limit: Int? = nil,
                                _ complete: @escaping (JSONValue) throws -> Response) throws -> RouteAction {
        try jsonDocument(head, limit: limit) { document in try complete(withExtendedLifetime(document) { document.root.value }) }
    }

    /// Like `jsonBody`, but hands over the parser's tree, for bodies whose bulk is read in place.
    /// `float32Arrays`: a tensor body, whose long number arrays are parsed straight to float32
    /// (see `JSONDocument`).
    public static func jsonDocument(_ head: HTTPRequestHead, limit: Int? = nil, float32Arrays: Bool = false,
                                    _ complete: @escaping (JSONDocument) throws -> Response) throws -> RouteAction {
        let type = head.mediaType
        guard type == "application/json" || (type?.hasSuffix("+json") ?? false) else {
            throw HTTPError.unsupportedMediaType(head.headers[.contentType], supported: ["application/json"])
        }
        let hint = "JSON bodies are parsed whole, so they have their own limit (--max-json-body-bytes); send large tensors as application/octet-stream or application/vnd.safetensors"
        if let limit, let length = head.contentLength, length > limit {
            throw HTTPError.contentTooLarge(limit: limit, received: length, hint: hint)
        }
        return .readBody(CollectingBodyHandler(limit: limit, hint: hint, expectedLength: head.contentLength) { bytes in
            guard !bytes.isEmpty else { throw HTTPError.badRequest("the request body is empty; a JSON document was expected") }
            let document = try JSONDocument(parsing: bytes, float32Arrays: float32Arrays)
            return try withExtendedLifetime(document) { try complete(document) }
        })
    }
}
