@testable import StepHTTP
import StepHTTPTesting
import StepJSON
import Testing
import HTTPTypes

/// In-process tests: the router is a value, so routing, errors, auth, body streaming and
/// limits are checked without a socket.
@Suite struct RouterTests {
    static func head(_ method: HTTPRequest.Method, _ target: String, _ headers: HTTPFields = [:]) -> HTTPRequestHead {
        HTTPRequestHead(method: method, target: target, headers: headers)
    }

    static func sessionsRouter() -> Router {
        var r = Router()
        r.get("/v1/sessions/{id}") { _, p in .json(["id": .string(try p.require("id"))]) }
        r.delete("/v1/sessions/{id}") { _, _ in .respond(.empty()) }
        r.get("/v1/sessions/export") { _, _ in .json(["export": true]) }
        r.post("/v1/sessions/{id}/steps") { _, p in .json(["steps_of": .string(try p.require("id"))]) }
        r.get("/search") { head, _ in
            .json(.object(JSONObject(head.queryItems.map { ($0.name, JSONValue.string($0.value)) })))
        }
        return r
    }

    @Test func unknownPathIsA404Problem() throws {
        let r = Self.sessionsRouter().handle(Self.head(.get, "/v2/nothing"))
        #expect(r.status == .notFound)
        #expect(r.headers[.contentType] == "application/problem+json")
        let body = try r.jsonBody()
        #expect(body["type"] == "about:blank")
        #expect(body["title"] == "Not Found")
        #expect(body["status"] == 404)
        #expect(body["detail"] == "no resource at /v2/nothing")
    }

    @Test func wrongMethodIs405WithAllowListingThePathsMethods() throws {
        let r = Self.sessionsRouter().handle(Self.head(.put, "/v1/sessions/abc"))
        #expect(r.status == .methodNotAllowed)
        #expect(r.headers[.allow] == "GET, DELETE, HEAD")
        #expect(try r.jsonBody()["status"] == 405)
    }

    @Test func pathParametersAreCapturedAndLiteralSegmentsWin() throws {
        let router = Self.sessionsRouter()
        #expect(try router.handle(Self.head(.get, "/v1/sessions/run-7")).jsonBody() == ["id": "run-7"])
        #expect(try router.handle(Self.head(.get, "/v1/sessions/export")).jsonBody() == ["export": true])
        #expect(try router.handle(Self.head(.post, "/v1/sessions/a.b/steps")).jsonBody() == ["steps_of": "a.b"])
        // A parameter never captures an empty segment, and a trailing slash is another path.
        #expect(router.handle(Self.head(.post, "/v1/sessions//steps")).status == .notFound)
        #expect(router.handle(Self.head(.get, "/v1/sessions/x/")).status == .notFound)
    }

    @Test func percentEncodedPathSegmentsAreDecodedBeforeMatching() throws {
        let r = Self.sessionsRouter().handle(Self.head(.get, "/v1/sessions/a%20b"))
        #expect(try r.jsonBody() == ["id": "a b"])
    }

    @Test func queryItemsAreDecodedInOrder() throws {
        let r = Self.sessionsRouter().handle(Self.head(.get, "/search?names=w%2Cb&x=1+2&flag&e=%zz"))
        #expect(try r.jsonBody() == ["names": "w,b", "x": "1 2", "flag": "", "e": "%zz"])
    }

    @Test func headFallsBackToGet() {
        let r = Self.sessionsRouter().handle(Self.head(.head, "/v1/sessions/x"))
        #expect(r.status == .ok)
    }

    @Test func mediaTypeIgnoresFieldNameCaseAndParameters() {
        let h = HTTPFields([("content-TYPE", "Application/JSON ; charset=utf-8")])
        #expect(HTTPRequestHead(method: .post, path: "/", headers: h).mediaType == "application/json")
    }

    @Test func contentLengthIsTheFirstFieldNotTheJoinedValues() {
        let h = HTTPFields([("Content-Length", "5"), ("Content-Length", "5")])
        #expect(HTTPRequestHead(method: .post, path: "/", headers: h).contentLength == 5)
    }

    @Test func problemCarriesExtraMembersSuchAsField() throws {
        let e = HTTPError.unprocessable(field: "optimizer.betas[1]", detail: "must be in [0, 1), got 1.5")
        let body = try e.response.jsonBody()
        #expect(body == ["type": "about:blank", "title": "Unprocessable Content", "status": 422,
                         "detail": "must be in [0, 1), got 1.5", "field": "optimizer.betas[1]"])
    }

    @Test func thrownHTTPErrorsBecomeTheirProblemWithHeaders() throws {
        var router = Router()
        router.get("/busy") { _, _ in throw HTTPError.tooManyRequests("slow down", retryAfterSeconds: 3) }
        let r = router.handle(Self.head(.get, "/busy"))
        #expect(r.status == .tooManyRequests)
        #expect(r.headers[.retryAfter] == "3")
        #expect(try r.jsonBody()["detail"] == "slow down")
    }

    @Test func unexpectedErrorsAre500WithoutInternalsAndAreReported() throws {
        struct Secret: Error {}
        let seen = LockedValue(0)
        var router = Router()
        router.onUnexpectedError = { _, _ in seen.withLock { $0 += 1 } }
        router.get("/boom") { _, _ in throw Secret() }
        let r = router.handle(Self.head(.get, "/boom"))
        #expect(r.status == .internalServerError)
        #expect(try r.jsonBody()["detail"] == "internal error")
        #expect(seen.withLock { $0 } == 1)
    }

    @Test func jsonFieldAndSyntaxErrorsMapTo422And400() throws {
        var router = Router()
        router.post("/cfg") { head, _ in
            try .jsonBody(head) { doc in
                var reader = try JSONObjectReader(doc, path: "")
                _ = try reader.double("lr")
                try reader.finish()
                return .json(["ok": true])
            }
        }
        let json: HTTPFields = [.contentType: "application/json"]
        let good = router.handle(Self.head(.post, "/cfg", json), body: Array(#"{"lr": 0.1}"#.utf8))
        #expect(good.status == .ok)
        let typo = router.handle(Self.head(.post, "/cfg", json), body: Array(#"{"lr": "x"}"#.utf8))
        #expect(typo.status == .unprocessableContent)
        #expect(try typo.jsonBody()["field"] == "lr")
        let broken = router.handle(Self.head(.post, "/cfg", json), body: Array(#"{"lr": "#.utf8))
        #expect(broken.status == .badRequest)
        let empty = router.handle(Self.head(.post, "/cfg", json))
        #expect(empty.status == .badRequest)
        let wrongType = router.handle(Self.head(.post, "/cfg", [.contentType: "text/plain"]), body: Array("x".utf8))
        #expect(wrongType.status == .unsupportedMediaType)
        #expect(try wrongType.jsonBody()["detail"] == "Content-Type text/plain is not supported here; use one of: application/json")
    }
}

/// A body handler that records what it is given, for checking the streaming contract.
final class RecordingBodyHandler: RequestBodyHandler {
    var chunks: [Int] = []
    var bytes: [UInt8] = []
    var finished = false
    var abandoned = false
    var failAfter: Int?

    init(failAfter: Int? = nil) { self.failAfter = failAfter }

    func consume(_ chunk: UnsafeRawBufferPointer) throws {
        if let failAfter, chunks.count >= failAfter {
            throw HTTPError.unprocessable(field: "grads", detail: "refused chunk \(chunks.count)")
        }
        chunks.append(chunk.count)
        bytes += chunk
    }

    func finish() throws -> Response {
        finished = true
        return .json(["bytes": .number(Double(bytes.count)), "chunks": .number(Double(chunks.count))])
    }

    func abandon() { abandoned = true }
}

/// Hands the test the handler the route created, across the route's `@Sendable` boundary.
final class HandlerSlot: @unchecked Sendable {
    private let lock = LockedValue<RecordingBodyHandler?>(nil)
    var handler: RecordingBodyHandler? { lock.withLock { $0 } }
    func make(failAfter: Int? = nil) -> RecordingBodyHandler {
        let h = RecordingBodyHandler(failAfter: failAfter)
        lock.withLock { $0 = h }
        return h
    }
}

@Suite struct RequestBodyTests {
    static func uploadRouter(_ slot: HandlerSlot, limit: Int = 1 << 20, failAfter: Int? = nil) -> Router {
        var r = Router(maxBodyBytes: limit)
        r.post("/upload") { _, _ in .readBody(slot.make(failAfter: failAfter)) }
        return r
    }

    @Test func bodyArrivesChunkByChunkInOrder() throws {
        let slot = HandlerSlot()
        let body = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let head = HTTPRequestHead(method: .post, target: "/upload", headers: [.contentLength: "100000"])
        let r = Self.uploadRouter(slot).handle(head, body: body, chunkSize: 30_000)
        #expect(r.status == .ok)
        let h = try #require(slot.handler)
        #expect(h.chunks == [30_000, 30_000, 30_000, 10_000])
        #expect(h.bytes == body)
        #expect(h.finished && !h.abandoned)
    }

    @Test func oversizedContentLengthIsRefusedBeforeTheRouteRuns() throws {
        let slot = HandlerSlot()
        let head = HTTPRequestHead(method: .post, target: "/upload", headers: [.contentLength: "2000"])
        let r = Self.uploadRouter(slot, limit: 1000).handle(head, body: [UInt8](repeating: 1, count: 2000))
        #expect(r.status == .contentTooLarge)
        #expect(slot.handler == nil)
        let problem = try r.jsonBody()
        #expect(problem["limit"] == 1000)
        #expect(problem["detail"] == "request body of 2000 bytes exceeds the limit of 1000 bytes")
    }

    @Test func chunkedBodyOverTheLimitIs413AndTheHandlerIsAbandoned() throws {
        let slot = HandlerSlot()
        let head = HTTPRequestHead(method: .post, target: "/upload", headers: [.transferEncoding: "chunked"])
        let r = Self.uploadRouter(slot, limit: 1000).handle(head, body: [UInt8](repeating: 1, count: 5000), chunkSize: 400)
        #expect(r.status == .contentTooLarge)
        let h = try #require(slot.handler)
        #expect(h.chunks == [400, 400])
        #expect(h.abandoned && !h.finished)
    }

    @Test func aRefusedChunkDrainsTheRestAndAnswersWithTheError() throws {
        let slot = HandlerSlot()
        let head = HTTPRequestHead(method: .post, target: "/upload", headers: [.contentLength: "1000"])
        let r = Self.uploadRouter(slot, failAfter: 2).handle(head, body: [UInt8](repeating: 1, count: 1000), chunkSize: 100)
        #expect(r.status == .unprocessableContent)
        #expect(try r.jsonBody()["detail"] == "refused chunk 2")
        let h = try #require(slot.handler)
        #expect(h.chunks == [100, 100])
        #expect(h.abandoned && !h.finished)
    }

    @Test func conflictingOrMalformedContentLengthIs400() {
        let slot = HandlerSlot()
        var h = HTTPFields()
        h.append(HTTPField(name: .contentLength, value: "5"))
        h.append(HTTPField(name: .contentLength, value: "6"))
        let r = Self.uploadRouter(slot).handle(HTTPRequestHead(method: .post, path: "/upload", headers: h), body: [[1, 2, 3, 4, 5]])
        #expect(r.status == .badRequest)
        let bad = HTTPRequestHead(method: .post, target: "/upload", headers: [.contentLength: "-1"])
        #expect(Self.uploadRouter(slot).handle(bad).status == .badRequest)
        #expect(slot.handler == nil)
    }

    @Test func collectingHandlerEnforcesItsOwnSmallerLimit() {
        var router = Router(maxBodyBytes: 1 << 20)
        router.post("/small") { _, _ in .collectBody(limit: 10) { .text("\($0.count)") } }
        let head = HTTPRequestHead(method: .post, target: "/small", headers: [.contentLength: "11"])
        #expect(router.handle(head, body: Array("hello world".utf8)).status == .contentTooLarge)
        let ok = HTTPRequestHead(method: .post, target: "/small", headers: [.contentLength: "5"])
        #expect(router.handle(ok, body: Array("hello".utf8)).status == .ok)
    }

    @Test func respondingWithoutReadingTheBodyStillAnswersAfterIt() throws {
        var router = Router()
        router.post("/ignore") { _, _ in .json(["ignored": true], status: .accepted) }
        let head = HTTPRequestHead(method: .post, target: "/ignore", headers: [.contentLength: "3"])
        #expect(router.handle(head, body: [1, 2, 3]).status == .accepted)
    }

    @Test func streamedResponseBodiesCollectToTheirBytes() throws {
        let data = (0..<200_000).map { UInt8(truncatingIfNeeded: $0) }
        let released = LockedValue(0)
        let stream = ResponseBodyStream(length: data.count, fill: { offset, buffer in
            let n = min(buffer.count, data.count - offset)
            data.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<offset + n])) }
            return n
        }, release: { released.withLock { $0 += 1 } })
        #expect(try Response.stream(stream).collectBody() == data)
        #expect(released.withLock { $0 } == 1)
    }
}

@Suite struct MetricsTests {
    @Test func requestsAreCountedByPatternMethodAndStatus() {
        let metrics = Metrics()
        var router = Router(metrics: metrics)
        router.get("/v1/sessions/{id}") { _, _ in .json([:]) }
        for id in ["a", "b", "c"] { _ = router.handle(HTTPRequestHead(method: .get, target: "/v1/sessions/\(id)")) }
        _ = router.handle(HTTPRequestHead(method: .get, target: "/nope"))
        _ = router.handle(HTTPRequestHead(method: HTTPRequest.Method(token: "BREW"), target: "/v1/sessions/a"))
        let text = metrics.render()
        #expect(text.contains("# HELP stepd_http_requests_total HTTP requests by route pattern, method and status.\n"))
        #expect(text.contains("# TYPE stepd_http_requests_total counter\n"))
        #expect(text.contains("stepd_http_requests_total{route=\"/v1/sessions/{id}\",method=\"GET\",status=\"200\"} 3\n"))
        #expect(text.contains("stepd_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1\n"))
        #expect(text.contains("stepd_http_requests_total{route=\"/v1/sessions/{id}\",method=\"other\",status=\"405\"} 1\n"))
    }

    @Test func durationHistogramBucketsAreCumulativeInSeconds() {
        let metrics = Metrics()
        let h = metrics.histogram("stepd_step_seconds", help: "Step latency.", buckets: [0.001, 0.01, 0.1])
        for ms in [0.5, 2, 3, 500] { h.record(.microseconds(Int64(ms * 1000))) }
        let text = metrics.render()
        #expect(text.contains("# TYPE stepd_step_seconds histogram\n"))
        #expect(text.contains("stepd_step_seconds_bucket{le=\"0.001\"} 1\n"))
        #expect(text.contains("stepd_step_seconds_bucket{le=\"0.01\"} 3\n"))
        #expect(text.contains("stepd_step_seconds_bucket{le=\"0.1\"} 3\n"))
        #expect(text.contains("stepd_step_seconds_bucket{le=\"+Inf\"} 4\n"))
        #expect(text.contains("stepd_step_seconds_sum 0.5055\n"))
        #expect(text.contains("stepd_step_seconds_count 4\n"))
    }

    @Test func gaugesAreReadAtScrapeTime() {
        let metrics = Metrics()
        let sessions = LockedValue(2.0)
        metrics.gauge("stepd_sessions", help: "Live sessions.") { sessions.withLock { $0 } }
        metrics.gauges("stepd_parameter_bytes", help: "Parameter bytes.", labels: ["session"]) {
            [(["a\"b"], 1024)]
        }
        #expect(metrics.render().contains("stepd_sessions 2.0\n"))
        sessions.withLock { $0 = 5 }
        let text = metrics.render()
        #expect(text.contains("stepd_sessions 5.0\n"))
        #expect(text.contains("stepd_parameter_bytes{session=\"a\\\"b\"} 1024.0\n"))
        #expect(text.contains("# HELP stepd_sessions Live sessions.\n"))
        #expect(metrics.response().headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
    }

    @Test func gaugeLabelSetsThatVanishLeaveTheExposition() {
        let metrics = Metrics()
        let tenants = LockedValue(["acme", "zeta"])
        metrics.gauges("stepd_sessions", help: "Sessions by tenant.", labels: ["tenant"]) {
            tenants.withLock { $0.map { ([$0], 1) } }
        }
        #expect(metrics.render().contains("stepd_sessions{tenant=\"zeta\"} 1.0\n"))
        tenants.withLock { $0 = ["acme"] }
        let text = metrics.render()
        #expect(text.contains("stepd_sessions{tenant=\"acme\"} 1.0\n"))
        #expect(!text.contains("zeta"))
    }
}
