@testable import StepHTTP
import StepHTTPTesting
import StepJSON
@testable import StepServer
import Testing

/// Requests whose body two HTTP parsers could delimit differently (the request-smuggling
/// shapes) are refused before any handler runs, and the connection is closed, so the bytes
/// after the head are never read as a request of their own.
@Suite struct RequestFramingTests {
    /// A session create: if any of it is read as a body, a session appears.
    static let create = Array(#"{"id":"smuggled","optimizer":{"type":"sgd","lr":0.1},"params":[{"name":"w","shape":[1],"values":[1]}]}"#.utf8)
    static let pipelined = Array("GET /v1/sessions HTTP/1.1\r\nHost: x\r\n\r\n".utf8)

    static func chunked(_ body: [UInt8]) -> [UInt8] {
        Array(String(body.count, radix: 16).utf8) + [13, 10] + body + Array("\r\n0\r\n\r\n".utf8)
    }

    /// Sends `framing` as the framing headers of a session create with a chunked body and a
    /// pipelined request behind it; returns the one response and whether the server closed.
    static func send(framing: String, to live: LiveServer) throws -> (TestHTTPClient.Response, closed: Bool, bytes: [UInt8]) {
        let connection = try live.client.open()
        defer { connection.close() }
        let head = "POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\(framing)\r\n\r\n"
        connection.send(Array(head.utf8) + chunked(create) + pipelined)
        let reply = connection.readToEnd()
        return (try TestHTTPClient.parse(reply), connection.closedByPeer, reply)
    }

    @Test(arguments: [
        "Content-Length: 4\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: chunked\r\nContent-Length: 4",
        "transfer-encoding: Chunked\r\ncontent-length: 200",
    ])
    func contentLengthWithTransferEncodingIs400AndClosesTheConnection(framing: String) throws {
        let live = try LiveServer()
        let (r, closed, bytes) = try Self.send(framing: framing, to: live)
        #expect(r.status == 400)
        #expect(r.headers[.contentType] == "application/problem+json")
        #expect(r.headers[.connection]?.lowercased() == "close")
        guard case .string(let detail)? = try r.json()["detail"] else { Issue.record("no detail"); return }
        #expect(detail.contains("Content-Length") && detail.contains("Transfer-Encoding"), "\(detail)")
        #expect(closed, "the server kept the connection open after a request it could not delimit")
        #expect(TestHTTPClient.find(Array("HTTP/1.1 ".utf8), in: bytes, from: 1) == nil,
                "a second response: the bytes after the head were read as a request")
        #expect(live.service.registry.count == 0, "the route handler ran")
        #expect(try live.json("GET", "/v1/sessions/smuggled").status == 404)
    }

    @Test(arguments: [("gzip", 400), ("chunked, gzip", 400), ("gzip, chunked", 501), ("chunked, chunked", 501)])
    func aTransferCodingOtherThanOneChunkedIsRefusedInsteadOfReadUntilClose(coding: String, status: Int) throws {
        let live = try LiveServer()
        let (r, closed, _) = try Self.send(framing: "Transfer-Encoding: \(coding)", to: live)
        #expect(r.status == status)
        #expect(r.headers[.contentType] == "application/problem+json")
        guard case .string(let detail)? = try r.json()["detail"] else { Issue.record("no detail"); return }
        #expect(detail.contains("Transfer-Encoding \(coding)"), "\(detail)")
        #expect(closed)
        #expect(live.service.registry.count == 0)
    }

    @Test func aPlainChunkedRequestStillWorksAndKeepsTheConnection() throws {
        let live = try LiveServer()
        let connection = try live.client.open()
        defer { connection.close() }
        let head = "POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        connection.send(Array(head.utf8) + Self.chunked(Self.create)
                        + Array("GET /v1/sessions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8))
        let reply = connection.readToEnd()
        let first = try TestHTTPClient.parse(reply)
        #expect(first.status == 201)
        let second = try #require(TestHTTPClient.find(Array("HTTP/1.1 ".utf8), in: reply, from: 1))
        #expect(try TestHTTPClient.parse(Array(reply[second...])).status == 200)
        #expect(live.service.registry.count == 1)
    }
}
