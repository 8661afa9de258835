@testable import StepHTTP
import StepHTTPTesting
import Foundation
import StepCore
import StepJSON
import StepServer
import StepStore
import Testing
import HTTPTypes

/// A deleted session stays deleted: nothing still in flight when the DELETE lands (a step
/// uploading, a checkpoint loading) may apply to it, answer as if it had, or write it back to
/// disk, and an id reused afterwards belongs to the new session alone, also across `kill -9`.
@Suite(.serialized) struct DeletedSessionTests {
    static func config(_ id: String, values: [Double]) -> JSONValue {
        ["id": .string(id), "optimizer": ["type": "sgd", "lr": 0.5], "snapshot": ["every_steps": 1],
         "params": [["name": "w", "shape": [4], "values": .array(values.map { .number($0) })]]]
    }

    static let gradient: [Float] = [1, 1, 1, 1]

    /// Sends the head and the first half of a raw step body, and leaves the rest for later.
    static func startUpload(_ port: Int, _ id: String) throws -> TestHTTPClient.Connection {
        let body = gradient.littleEndianBytes
        let c = try TestHTTPClient.Connection(host: "127.0.0.1", port: port, timeoutSeconds: 10)
        let head = "POST /v1/sessions/\(id)/steps HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/octet-stream\r\nContent-Length: \(body.count)\r\n\r\n"
        c.send(Array(head.utf8) + body[..<8])
        usleep(200_000)  // the head is routed (and the session looked up) before the DELETE
        return c
    }

    static func finishUpload(_ c: TestHTTPClient.Connection) throws -> TestHTTPClient.Response {
        defer { c.close() }
        c.send(Array(gradient.littleEndianBytes[8...]))
        return try TestHTTPClient.parse(c.readToEnd())
    }

    static func json(_ client: TestHTTPClient, _ method: String, _ target: String, _ body: JSONValue? = nil) throws -> TestHTTPClient.Response {
        try client.request(method, target, headers: body == nil ? [] : [("Content-Type", "application/json")], body: body?.encoded)
    }

    @Test func aStepStillUploadingWhenItsSessionIsDeletedIsRefusedAndTheSessionNeverComesBack() throws {
        let dir = temporaryDirectory("deleted-upload")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try StepdProcess(dataDir: dir)
        #expect(try Self.json(first.client, "POST", "/v1/sessions", Self.config("gone", values: [1, 2, 3, 4])).status == 201)

        let upload = try Self.startUpload(first.port, "gone")
        #expect(try Self.json(first.client, "DELETE", "/v1/sessions/gone").status == 204)
        let answer = try Self.finishUpload(upload)
        #expect(answer.status == 404, "a step on a deleted session answered \(answer.status): \(String(decoding: answer.body, as: UTF8.self))")
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/sessions/gone"), "the deleted session's folder was written again")

        first.crash()
        let second = try StepdProcess(dataDir: dir)
        defer { _ = second.terminate() }
        #expect(try Self.json(second.client, "GET", "/v1/sessions/gone").status == 404)
        let list = try Self.json(second.client, "GET", "/v1/sessions").json()
        #expect(list["sessions"] == .array([]))
    }

    @Test func aStaleUploadCannotOverwriteANewSessionCreatedUnderTheSameID() throws {
        let dir = temporaryDirectory("reused-id")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try StepdProcess(dataDir: dir)
        #expect(try Self.json(first.client, "POST", "/v1/sessions", Self.config("x", values: [1, 2, 3, 4])).status == 201)

        let stale = try Self.startUpload(first.port, "x")
        #expect(try Self.json(first.client, "DELETE", "/v1/sessions/x").status == 204)
        #expect(try Self.json(first.client, "POST", "/v1/sessions", Self.config("x", values: [10, 20, 30, 40])).status == 201)
        let step = try first.client.request("POST", "/v1/sessions/x/steps", headers: [("Content-Type", "application/octet-stream")],
                                            body: Self.gradient.littleEndianBytes)
        #expect(step.status == 200)
        #expect(try Self.finishUpload(stale).status == 404)

        first.crash()
        let second = try StepdProcess(dataDir: dir)
        defer { _ = second.terminate() }
        let params = try second.client.request("GET", "/v1/sessions/x/params", headers: [("Accept", "application/octet-stream")])
        #expect(params.status == 200)
        // The new session after its one step (sgd, lr 0.5, gradient 1), untouched by the stale upload.
        #expect(params.body.floats == [9.5, 19.5, 29.5, 39.5])
        #expect(params.headers[.eTag] == "\"1\"")
    }

    @Test func checkpointPutsRacingDeletesLeaveNoGhostAndTheLimitsHold() throws {
        let registry = SessionRegistry(limits: .init(maxSessions: 3, maxParamBytes: 1 << 30))
        let service = StepService(registry: registry, parallel: .serial)
        let router = service.router()
        @Sendable func send(_ method: String, _ target: String, _ body: [UInt8] = [], _ type: String? = nil) -> Response {
            var h = HTTPFields()
            if let type { h[.contentType] = type }
            if !body.isEmpty { h[.contentLength] = String(body.count) }
            return router.handle(HTTPRequestHead(method: HTTPRequest.Method(token: method), target: target, headers: h), body: body)
        }
        #expect(send("POST", "/v1/sessions", Self.config("r", values: [1, 2, 3, 4]).encoded, "application/json").status.code == 201)
        let checkpoint = try send("GET", "/v1/sessions/r/checkpoint").collectBody()

        DispatchQueue.concurrentPerform(iterations: 400) { i in
            if i % 2 == 0 {
                _ = send("PUT", "/v1/sessions/r/checkpoint", checkpoint, "application/vnd.safetensors")
            } else {
                _ = send("DELETE", "/v1/sessions/r")
            }
        }
        // Whatever won, what is listed is whole, and what is counted is what is listed.
        let listed = registry.all
        #expect(listed.allSatisfy { $0.byteCount > 0 && !$0.isRetired })
        #expect(registry.count == listed.count)
        #expect(registry.bytes == listed.reduce(0) { $0 + $1.config.residentBytes })
        for k in 0..<5 {
            _ = send("POST", "/v1/sessions", Self.config("n\(k)", values: [1, 2, 3, 4]).encoded, "application/json")
        }
        #expect(registry.count == 3, "--max-sessions 3 was passed: \(registry.all.map(\.id))")
    }
}

/// Concurrent uploads to one session hold a buffer each, and those count against
/// `--max-param-bytes`: past it they are refused with 503 at the head, and the bytes come back
/// when the uploads end.
@Suite struct UploadMemoryLimitTests {
    @Test func concurrentUploadsPastTheMemoryLimitAre503AndTheBytesComeBack() throws {
        let n = 1 << 18
        let create: JSONValue = ["id": "big", "optimizer": ["type": "sgd", "lr": 0.1], "params": [["name": "w", "shape": [.number(Double(n))]]]]
        let resident = try SessionConfig.parse(create.removingID).0.residentBytes
        // Room for the session and two extra gradient buffers.
        let registry = SessionRegistry(limits: .init(maxSessions: 10, maxParamBytes: resident + 2 * n * 4))
        let live = try LiveServer(service: StepService(registry: registry, parallel: .serial))
        #expect(try live.json("POST", "/v1/sessions", create).status == 201)

        let body = [Float](repeating: 0.5, count: n).littleEndianBytes
        // One after another, each left half-sent: the session's own buffer and two extra fit.
        // The ones past the limit ask `Expect: 100-continue`, so the refusal comes at the head
        // without their bodies; the last one sends its whole body without asking, and gets the
        // refusal after it (the server reads and drops a refused body rather than reset it).
        var open: [TestHTTPClient.Connection] = []
        for k in 0..<7 {
            let c = try TestHTTPClient.Connection(host: "127.0.0.1", port: live.server.port!, timeoutSeconds: 10)
            let expect = (3..<6).contains(k) ? "Expect: 100-continue\r\n" : ""
            let head = "POST /v1/sessions/big/steps HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/octet-stream\r\n\(expect)Content-Length: \(body.count)\r\n\r\n"
            c.send(Array(head.utf8) + (k < 3 ? Array(body[..<1024]) : k == 6 ? body : []))
            usleep(50_000)
            if k < 3 {
                open.append(c)
                continue
            }
            let r = try TestHTTPClient.parse(c.readToEnd())
            #expect(r.status == 503, "upload \(k) was answered \(r.status)")
            #expect(r.headers[.retryAfter] == "1")
            c.close()
        }
        #expect(registry.bytes == resident + 2 * n * 4)
        for c in open {
            c.send(Array(body[1024...]))
            #expect(try TestHTTPClient.parse(c.readToEnd()).status == 200)
            c.close()
        }
        usleep(100_000)
        #expect(registry.bytes == resident, "the extra buffers were given back")
    }
}

private extension JSONValue {
    var removingID: JSONValue {
        guard case .object(var o) = self else { return self }
        o["id"] = nil
        return .object(o)
    }
}
