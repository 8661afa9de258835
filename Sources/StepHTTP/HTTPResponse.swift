import StepJSON

/// A response as a value: handlers build it, in-process tests inspect it, and only the
/// server turns it into libmicrohttpd calls.
public struct HTTPResponse: Sendable {
    public var status: HTTPStatus
    /// Never set `Content-Length` here: libmicrohttpd derives it from the body.
    public var headers: HTTPHeaders
    public var body: HTTPResponseBody

    public init(status: HTTPStatus = .ok, headers: HTTPHeaders = [:], body: HTTPResponseBody = .bytes([])) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func json(_ value: JSONValue, status: HTTPStatus = .ok, headers: HTTPHeaders = [:]) -> HTTPResponse {
        bytes(value.encoded, contentType: "application/json", status: status, headers: headers)
    }

    /// For JSON written straight with a `JSONWriter` (large float arrays), skipping the
    /// intermediate `JSONValue`.
    public static func json(_ writer: JSONWriter, status: HTTPStatus = .ok, headers: HTTPHeaders = [:]) -> HTTPResponse {
        bytes(writer.bytes, contentType: "application/json", status: status, headers: headers)
    }

    public static func bytes(_ bytes: [UInt8], contentType: String = "application/octet-stream",
                             status: HTTPStatus = .ok, headers: HTTPHeaders = [:]) -> HTTPResponse {
        var h = headers
        h.set("Content-Type", contentType)
        return HTTPResponse(status: status, headers: h, body: .bytes(bytes))
    }

    public static func text(_ text: String, contentType: String = "text/plain; charset=utf-8",
                            status: HTTPStatus = .ok, headers: HTTPHeaders = [:]) -> HTTPResponse {
        bytes(Array(text.utf8), contentType: contentType, status: status, headers: headers)
    }

    /// A body produced on demand into libmicrohttpd's send buffer, so a large tensor download
    /// is copied once, from the session's memory to the socket buffer.
    public static func stream(_ stream: ResponseBodyStream, contentType: String = "application/octet-stream",
                              status: HTTPStatus = .ok, headers: HTTPHeaders = [:]) -> HTTPResponse {
        var h = headers
        h.set("Content-Type", contentType)
        return HTTPResponse(status: status, headers: h, body: .stream(stream))
    }

    public static func problem(_ problem: Problem, headers: HTTPHeaders = [:]) -> HTTPResponse {
        bytes(problem.json.encoded, contentType: Problem.mediaType, status: problem.status, headers: headers)
    }

    public static func empty(_ status: HTTPStatus = .noContent, headers: HTTPHeaders = [:]) -> HTTPResponse {
        HTTPResponse(status: status, headers: headers, body: .bytes([]))
    }
}

public enum HTTPResponseBody: Sendable {
    case bytes([UInt8])
    case stream(ResponseBodyStream)
}
