#if canImport(Glibc)
@testable import StepHTTP
import StepHTTPTesting
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import StepJSON
import Testing

/// Real-socket tests: the same router behaviour through libmicrohttpd, plus what only a
/// socket can show (early 413 by Content-Length, hostile bytes, huge heads, stop).
@Suite(.serialized) struct HTTPServerTests {
    /// Counts body handler outcomes across MHD's threads.
    final class UploadLog: Sendable {
        let chunks = LockedValue(0)
        let abandoned = LockedValue(0)
        let finished = LockedValue(0)
    }

    static let download = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }

    static func demoRouter(maxBodyBytes: Int = 8 << 20, log: UploadLog = UploadLog()) -> Router {
        var r = Router(maxBodyBytes: maxBodyBytes, metrics: Metrics())
        r.get("/healthz") { _, _ in .respond(.text("ok\n")) }
        r.get("/v1/echo/{name}") { head, p in
            .json(["name": .string(try p.require("name")), "q": .string(head.query("q") ?? "")])
        }
        r.post("/v1/upload") { _, _ in
            var count = 0
            var sum: UInt64 = 0
            var chunks = 0
            return .readBody(ClosureBodyHandler(
                consume: { chunk in
                    chunks += 1
                    count += chunk.count
                    for b in chunk { sum &+= UInt64(b) }
                    log.chunks.withLock { $0 += 1 }
                },
                finish: {
                    log.finished.withLock { $0 += 1 }
                    return .json(["bytes": .number(Double(count)), "sum": .number(Double(sum)),
                                  "chunks": .number(Double(chunks))])
                },
                abandon: { log.abandoned.withLock { $0 += 1 } }))
        }
        r.get("/v1/blob") { head, _ in
            let data = Self.download
            let known = head.query("chunked") == nil
            return .respond(.stream(ResponseBodyStream(length: known ? data.count : nil) { offset, buffer in
                let n = min(buffer.count, data.count - offset)
                guard n > 0 else { return 0 }
                data.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<offset + n])) }
                return n
            }))
        }
        r.get("/metrics") { _, _ in .respond(.text("")) }
        return r
    }

    static func withServer<R>(_ router: Router = demoRouter(),
                              configure: (inout HTTPServer.Configuration) -> Void = { _ in },
                              _ body: (HTTPServer, TestHTTPClient) throws -> R) throws -> R {
        var config = HTTPServer.Configuration(host: "127.0.0.1", port: 0)
        config.threads = 2
        configure(&config)
        let server = HTTPServer(router: router, configuration: config)
        try server.start()
        defer { server.stop() }
        let port = try #require(server.port)
        return try body(server, TestHTTPClient(port: port))
    }

    static func uploadSum(_ bytes: [UInt8]) -> Double { Double(bytes.reduce(UInt64(0)) { $0 &+ UInt64($1) }) }

    @Test func portZeroBindsAFreePortAndASimpleGetWorks() throws {
        try Self.withServer { server, client in
            #expect(server.port! > 0)
            let r = try client.request("GET", "/healthz")
            #expect(r.status == 200)
            #expect(r.text == "ok\n")
            #expect(r.headers[.contentType] == "text/plain; charset=utf-8")
            #expect(r.headers[.contentLength] == "3")
        }
    }

    @Test func pathParametersAndDecodedQueryComeThroughTheSocket() throws {
        try Self.withServer { _, client in
            let r = try client.request("GET", "/v1/echo/run%2D1?q=a+b%26c")
            #expect(try r.json() == ["name": "run-1", "q": "a b&c"])
        }
    }

    @Test func problemsAndAllowComeThroughTheSocket() throws {
        try Self.withServer { _, client in
            let missing = try client.request("GET", "/nothing")
            #expect(missing.status == 404)
            #expect(missing.headers[.contentType] == "application/problem+json")
            #expect(try missing.json()["status"] == 404)
            let wrong = try client.request("DELETE", "/v1/upload")
            #expect(wrong.status == 405)
            #expect(wrong.headers[.allow] == "POST")
        }
    }

    @Test func aFiveMegabyteBodyIsStreamedToTheHandlerInChunks() throws {
        let log = UploadLog()
        let body = (0..<5_000_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        try Self.withServer(Self.demoRouter(log: log)) { _, client in
            let r = try client.request("POST", "/v1/upload", headers: [("Content-Type", "application/octet-stream")],
                                       body: body, framing: .contentLength(pieces: 100_000))
            #expect(r.status == 200)
            let json = try r.json()
            #expect(json["bytes"] == 5_000_000)
            #expect(json["sum"] == .number(Self.uploadSum(body)))
            if case .number(let chunks) = json["chunks"] { #expect(chunks > 10) }
            let chunked = try client.request("POST", "/v1/upload", body: body, framing: .chunked(size: 70_000))
            #expect(try chunked.json()["bytes"] == 5_000_000)
        }
        #expect(log.finished.withLock { $0 } == 2)
    }

    @Test func contentLengthOverTheLimitIsRefusedBeforeTheBodyIsSent() throws {
        let log = UploadLog()
        try Self.withServer(Self.demoRouter(maxBodyBytes: 1 << 20, log: log)) { _, client in
            let connection = try client.open()
            defer { connection.close() }
            connection.send(Array("POST /v1/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n".utf8))
            let r = try TestHTTPClient.parse(connection.readToEnd())
            #expect(r.status == 413)
            #expect(try r.json()["limit"] == .number(Double(1 << 20)))
        }
        #expect(log.chunks.withLock { $0 } == 0)
    }

    @Test func expectContinueGets413InsteadOf100() throws {
        try Self.withServer(Self.demoRouter(maxBodyBytes: 1000)) { _, client in
            let connection = try client.open()
            defer { connection.close() }
            connection.send(Array("POST /v1/upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n".utf8))
            let r = try TestHTTPClient.parse(connection.readToEnd())
            #expect(r.status == 413)
        }
    }

    @Test func chunkedBodyOverTheLimitIsCutOffAndAnswered413() throws {
        let log = UploadLog()
        try Self.withServer(Self.demoRouter(maxBodyBytes: 100_000, log: log)) { _, client in
            let r = try client.request("POST", "/v1/upload", body: [UInt8](repeating: 7, count: 1_000_000),
                                       framing: .chunked(size: 10_000))
            #expect(r.status == 413)
            #expect(r.headers[.contentType] == "application/problem+json")
            #expect(try client.request("GET", "/healthz").status == 200)
        }
        #expect(log.abandoned.withLock { $0 } == 1)
        #expect(log.finished.withLock { $0 } == 0)
    }

    @Test func garbageOnTheSocketDoesNotHurtTheNextRequest() throws {
        try Self.withServer { _, client in
            var noise: [UInt8] = Array("\u{0}\u{1}GARBAGE \u{7f}\r\n\r\n".utf8)
            noise += (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 97 &+ 11) }
            let reply = try client.raw(noise)
            if !reply.isEmpty { #expect(String(decoding: reply.prefix(12), as: UTF8.self).hasPrefix("HTTP/1.1 4")) }
            _ = try client.raw("GET / HTTP/9.9\r\n\r\n")
            _ = try client.raw("GET\r\n\r\n")
            _ = try client.raw("POST /v1/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n")
            #expect(try client.request("GET", "/healthz").status == 200)
        }
    }

    @Test func aOneMegabyteHeaderIsRefusedWithoutCrashing() throws {
        try Self.withServer { _, client in
            let huge = String(repeating: "a", count: 1 << 20)
            let reply = try client.raw("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Huge: \(huge)\r\nConnection: close\r\n\r\n")
            if !reply.isEmpty {
                let r = try TestHTTPClient.parse(reply)
                #expect([413, 431].contains(r.status))
            }
            let manyHeaders = (0..<20_000).map { "X-H\($0): v\r\n" }.joined()
            _ = try client.raw("GET /healthz HTTP/1.1\r\nHost: x\r\n\(manyHeaders)\r\n")
            #expect(try client.request("GET", "/healthz").status == 200)
        }
    }

    @Test func negativeOrGarbageContentLengthIsRefusedWithoutCrashing() throws {
        let log = UploadLog()
        try Self.withServer(Self.demoRouter(log: log)) { _, client in
            for value in ["-5", "abc", "99999999999999999999999999", "1, 2", " ", "5\r\nContent-Length: 6"] {
                let reply = try client.raw("POST /v1/upload HTTP/1.1\r\nHost: x\r\nContent-Length: \(value)\r\n\r\nhello")
                if !reply.isEmpty {
                    let r = try TestHTTPClient.parse(reply)
                    #expect(r.status >= 400 && r.status < 500, "Content-Length: \(value) gave \(r.status)")
                }
            }
            #expect(try client.request("GET", "/healthz").status == 200)
        }
        #expect(log.finished.withLock { $0 } == 0)
    }

    /// libmicrohttpd passes on any bytes before the first space as the method and before the
    /// colon as a field name. A name such as "Content-Length " (space before the colon) is one a
    /// proxy may read as the length while a lenient server ignores it, so these are refused
    /// before routing, with the connection closed.
    @Test func methodsAndFieldNamesThatAreNotTokensAre400AndCloseTheConnection() throws {
        let log = UploadLog()
        try Self.withServer(Self.demoRouter(log: log)) { _, client in
            let requests = [
                ("G(T /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "request method \"G(T\" is not a token"),
                ("GET /healthz HTTP/1.1\r\nHost: x\r\nBad(Name): 1\r\n\r\n", "header field name \"Bad(Name)\" is not a token"),
                ("POST /v1/upload HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello",
                 "header field name \"Content-Length \" is not a token"),
            ]
            for (request, detail) in requests {
                let r = try TestHTTPClient.parse(try client.raw(request))
                #expect(r.status == 400, "\(request.debugDescription) gave \(r.status)")
                #expect(r.headers[.connection]?.lowercased() == "close")
                #expect(try r.json()["detail"] == .string(detail))
            }
            #expect(try client.request("GET", "/healthz").status == 200)
        }
        #expect(log.finished.withLock { $0 } == 0)
    }

    @Test func streamedDownloadsArriveWholeWithAndWithoutALength() throws {
        try Self.withServer { _, client in
            let sized = try client.request("GET", "/v1/blob")
            #expect(sized.headers[.contentLength] == "3000000")
            #expect(sized.body == Self.download)
            let chunked = try client.request("GET", "/v1/blob?chunked=1")
            #expect(chunked.headers[.transferEncoding]?.lowercased() == "chunked")
            #expect(chunked.body == Self.download)
        }
    }

    @Test func headAnswersHeadersWithoutABody() throws {
        try Self.withServer { _, client in
            let reply = try client.raw("HEAD /v1/blob HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let text = String(decoding: reply, as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.1 200"))
            #expect(text.contains("Content-Length: 3000000\r\n"))
            #expect(text.hasSuffix("\r\n\r\n"))
        }
    }

    @Test func requestsAreCountedInMetricsByPattern() throws {
        let router = Self.demoRouter()
        try Self.withServer(router) { _, client in
            _ = try client.request("GET", "/v1/echo/a")
            _ = try client.request("GET", "/v1/echo/b")
            _ = try client.request("GET", "/zzz")
        }
        let m = try #require(router.metrics)
        let text = m.render()
        #expect(text.contains("stepd_http_requests_total{route=\"/v1/echo/{name}\",method=\"GET\",status=\"200\"} 2\n"))
        #expect(text.contains("stepd_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1\n"))
    }

    @Test func aStalledUploadTimesOutAndItsHandlerIsAbandoned() throws {
        let log = UploadLog()
        try Self.withServer(Self.demoRouter(log: log), configure: { $0.connectionTimeoutSeconds = 1 }) { _, client in
            let connection = try client.open()
            defer { connection.close() }
            connection.send(Array("POST /v1/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc".utf8))
            _ = connection.readToEnd()  // the server closes after the time-out
            for _ in 0..<50 where log.abandoned.withLock({ $0 }) == 0 { usleep(20_000) }
        }
        #expect(log.abandoned.withLock { $0 } == 1)
    }

    @Test func aHandlerSlowerThanTheHeadDeadlineIsNotCut() throws {
        // The deadline is for the client's head; once it is in, a handler waiting on a busy
        // session's lock must not lose its connection.
        var router = Self.demoRouter()
        router.get("/v1/slow") { _, _ in
            usleep(2_500_000)
            return .respond(.text("done\n"))
        }
        try Self.withServer(router, configure: { $0.headerTimeoutSeconds = 1 }) { _, client in
            let r = try client.request("GET", "/v1/slow")
            #expect(r.status == 200)
            #expect(r.text == "done\n")
        }
    }

    @Test func stopIsCleanAbandonsInFlightUploadsAndFreesThePort() throws {
        let log = UploadLog()
        var config = HTTPServer.Configuration()
        config.threads = 2
        let server = HTTPServer(router: Self.demoRouter(log: log), configuration: config)
        try server.start()
        let port = try #require(server.port)
        let client = TestHTTPClient(port: port)
        #expect(try client.request("GET", "/healthz").status == 200)
        let connection = try client.open()
        connection.send(Array("POST /v1/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n".utf8))
        connection.send([UInt8](repeating: 1, count: 5000))
        for _ in 0..<100 where log.chunks.withLock({ $0 }) == 0 { usleep(10_000) }
        server.stop()
        #expect(!server.isRunning)
        #expect(log.abandoned.withLock { $0 } == 1)
        connection.close()
        #expect(throws: (any Error).self) { try client.request("GET", "/healthz") }
        server.stop()
        // The port is free again: a new server can bind it.
        var again = HTTPServer.Configuration(host: "127.0.0.1", port: port)
        again.threads = 1
        let second = HTTPServer(router: Self.demoRouter(), configuration: again)
        try second.start()
        #expect(try TestHTTPClient(port: port).request("GET", "/healthz").status == 200)
        second.stop()
    }

    @Test func startingOnABusyPortThrowsWithTheReason() throws {
        try Self.withServer { server, _ in
            let other = HTTPServer(router: Router(), configuration: .init(host: "127.0.0.1", port: server.port!))
            #expect(throws: HTTPServerError.self) { try other.start() }
            #expect(!other.isRunning)
        }
    }
}
