import StepJSON
import HTTPTypes

/// A response as a value: handlers build it, in-process tests inspect it, and only the
/// server turns it into libmicrohttpd calls.
public struct Response: Sendable {
    public var status: HTTPResponse.Status
    /// Never set `Content-Length` here: libmicrohttpd derives it from the body.
    public var headers: HTTPFields
    public var body: ResponseBody

    public init(status: HTTPResponse.Status = .ok, headers: HTTPFields = [:], body: ResponseBody = .bytes([])) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        bytes(value.encoded, contentType: "application/json", status: status, headers: headers)
    }

    /// For JSON written straight with a `JSONWriter` (large float arrays), skipping the
    /// intermediate `JSONValue`.
    public static func json(_ writer: JSONWriter, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        bytes(writer.bytes, contentType: "application/json", status: status, headers: headers)
    }

    public static func bytes(_ bytes: [UInt8], contentType: String = "application/octet-stream",
                             status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var h = headers
        h[.contentType] = contentType
        return Response(status: status, headers: h, body: .bytes(bytes))
    }

    public static func text(_ text: String, contentType: String = "text/plain; charset=utf-8",
                            status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        bytes(Array(text.utf8), contentType: contentType, status: status, headers: headers)
    }

    /// A body produced on demand into libmicrohttpd's send buffer, so a large tensor download
    /// is copied once, from the session's memory to the socket buffer.
    public static func stream(_ stream: ResponseBodyStream, contentType: String = "application/octet-stream",
                              status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var h = headers
        h[.contentType] = contentType
        return Response(status: status, headers: h, body: .stream(stream))
    }

    public static func problem(_ problem: Problem, headers: HTTPFields = [:]) -> Response {
        bytes(problem.json.encoded, contentType: Problem.mediaType, status: problem.status, headers: headers)
    }

    public static func empty(_ status: HTTPResponse.Status = .noContent, headers: HTTPFields = [:]) -> Response {
        Response(status: status, headers: headers, body: .bytes([]))
    }
}

public enum ResponseBody: Sendable {
    case bytes([UInt8])
    case stream(ResponseBodyStream)
}
