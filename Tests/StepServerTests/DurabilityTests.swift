@testable import StepHTTP
import StepHTTPTesting
import Foundation
import StepCore
import StepJSON
import StepKernels
import StepServer
import StepStore
import Testing
import StepTensors
import HTTPTypes

/// Every durability claim, tested by killing the process or breaking the disk.
@Suite(.serialized) struct DurabilityTests {
    static let count = 1000

    static func config(id: String, snapshot: JSONValue) -> JSONValue {
        [
            "id": .string(id),
            "optimizer": ["type": "adamw", "lr": 0.01, "weight_decay": 0.1, "amsgrad": true],
            "schedule": ["type": "warmup_cosine", "warmup_steps": 10, "total_steps": 1000],
            "clip": ["max_norm": 5],
            "params": [["name": "w", "shape": [10, 90], "init": ["type": "normal", "std": 0.5, "seed": 7]],
                       ["name": "b", "shape": [100], "init": "zeros"]],
            "snapshot": snapshot,
        ]
    }

    /// The gradient of step k (0-based), the same in the client and the reference.
    static func gradient(_ k: Int) -> [Float] {
        (0..<count).map { i in sin(Float(i) * 0.013 + Float(k) * 0.7) * (1 + Float(k % 5)) }
    }

    /// A session that applied steps 0..<n in process: what the server must have.
    static func reference(_ body: JSONValue, steps n: Int) throws -> SessionImage {
        guard case .object(var o) = body else { throw ConformanceLikeError("not an object") }
        o["id"] = nil
        let (config, inits) = try SessionConfig.parse(.object(o))
        let s = Session(id: "ref", config: config, inits: inits, parallel: .serial)
        for k in 0..<n {
            let upload = try s.beginUpload(dtype: .f32)
            try gradient(k).littleEndianBytes.withUnsafeBytes { try upload.write($0) }
            _ = try s.submit(upload)
        }
        return s.capture()
    }

    static func checkpoint(_ client: TestHTTPClient, _ id: String) throws -> SessionImage {
        let r = try client.request("GET", "/v1/sessions/\(id)/checkpoint")
        #expect(r.status == 200)
        return try SessionCheckpoint.image(from: SafetensorsFile(bytes: r.body))
    }

    static func expectSameState(_ got: SessionImage, _ want: SessionImage) {
        #expect(got.step == want.step)
        #expect(got.state.params.array == want.state.params.array, "params differ")
        for (role, buffer) in want.state.roles {
            #expect(got.state.buffer(role)?.array == buffer.array, "\(role) differs")
        }
    }

    static func post(_ client: TestHTTPClient, _ id: String, step k: Int) throws -> TestHTTPClient.Response {
        try client.request("POST", "/v1/sessions/\(id)/steps", headers: [("Content-Type", "application/octet-stream")],
                           body: gradient(k).littleEndianBytes)
    }

    @Test func killDashNineLosesNoAcknowledgedStepWithEveryStepSnapshots() throws {
        let dir = temporaryDirectory("crash")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let body = Self.config(id: "crash", snapshot: ["every_steps": 1])
        let first = try StepdProcess(dataDir: dir)
        #expect(try first.client.request("POST", "/v1/sessions", headers: [("Content-Type", "application/json")], body: body.encoded).status == 201)

        // A client keeps stepping until the server dies under it.
        let acked = LockedCounter()
        let client = first.client
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            var k = 0
            while let r = try? Self.post(client, "crash", step: k), r.status == 200 {
                acked.set(k + 1)
                k += 1
            }
            done.signal()
        }
        while acked.value < 40 { usleep(5_000) }
        first.crash()
        done.wait()
        let lastAcked = acked.value

        let second = try StepdProcess(dataDir: dir)
        defer { _ = second.terminate() }
        let restored = try Self.checkpoint(second.client, "crash")
        // The server may have made a step durable and died before answering it: at most one more.
        #expect(restored.step >= lastAcked && restored.step <= lastAcked + 1, "restored step \(restored.step), last acknowledged \(lastAcked)")
        Self.expectSameState(restored, try Self.reference(body, steps: restored.step))
        // And it carries on where it stopped.
        #expect(try Self.post(second.client, "crash", step: restored.step).status == 200)
    }

    @Test func sigtermWritesChangedSessionsSoNothingIsLost() throws {
        let dir = temporaryDirectory("graceful")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let body = Self.config(id: "calm", snapshot: ["interval_s": 3600])
        let first = try StepdProcess(dataDir: dir)
        #expect(try first.client.request("POST", "/v1/sessions", headers: [("Content-Type", "application/json")], body: body.encoded).status == 201)
        for k in 0..<25 { #expect(try Self.post(first.client, "calm", step: k).status == 200) }
        #expect(first.terminate() == 0)

        let second = try StepdProcess(dataDir: dir)
        defer { _ = second.terminate() }
        Self.expectSameState(try Self.checkpoint(second.client, "calm"), try Self.reference(body, steps: 25))
    }

    @Test func aCorruptNewestSnapshotFallsBackToThePreviousOne() throws {
        let dir = temporaryDirectory("corrupt")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let body = Self.config(id: "c", snapshot: ["every_steps": 1])
        let first = try StepdProcess(dataDir: dir)
        #expect(try first.client.request("POST", "/v1/sessions", headers: [("Content-Type", "application/json")], body: body.encoded).status == 201)
        for k in 0..<6 { #expect(try Self.post(first.client, "c", step: k).status == 200) }
        first.crash()
        let snapshots = try SnapshotDirectory(dataDirectory: dir).snapshots(of: "c")
        #expect(snapshots.first?.step == 6)
        for damage in ["truncate", "flip", "garbage"] {
            let newest = try SnapshotDirectory(dataDirectory: dir).snapshots(of: "c")[0].path
            var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: newest)))
            switch damage {
            case "truncate": bytes = Array(bytes.prefix(bytes.count / 2))
            case "flip": bytes[bytes.count - 10] ^= 0x40
            default: bytes = (0..<bytes.count).map { _ in UInt8.random(in: 0...255) }
            }
            try Data(bytes).write(to: URL(fileURLWithPath: newest))
            let again = try StepdProcess(dataDir: dir)
            let restored = try Self.checkpoint(again.client, "c")
            #expect(restored.step == 5, "\(damage): restored step \(restored.step)")
            Self.expectSameState(restored, try Self.reference(body, steps: 5))
            #expect(again.log.contains("restore:"), "\(damage): the bad file is reported")
            again.crash()
            // Put the good step-6 file back for the next kind of damage.
            try FileManager.default.removeItem(atPath: newest)
            let second = try StepdProcess(dataDir: dir)
            #expect(try Self.post(second.client, "c", step: 5).status == 200)
            second.crash()
        }
    }

    static func json(_ client: TestHTTPClient, _ method: String, _ target: String, _ body: JSONValue) throws -> TestHTTPClient.Response {
        try client.request(method, target, headers: [("Content-Type", "application/json")], body: body.encoded)
    }

    /// A move freezes the source; a source killed and restarted mid-move must still refuse
    /// steps (its checkpoint may already serve on the target, and a step taken here would be
    /// lost when the move completes), and a completed move must still point clients onward.
    @Test func aMoveSurvivesKillDashNineFrozenThenMovedAway() throws {
        let dir = temporaryDirectory("move")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let body = Self.config(id: "mv", snapshot: ["every_steps": 1])
        let first = try StepdProcess(dataDir: dir)
        #expect(try Self.json(first.client, "POST", "/v1/sessions", body).status == 201)
        for k in 0..<3 { #expect(try Self.post(first.client, "mv", step: k).status == 200) }
        #expect(try Self.json(first.client, "POST", "/v1/sessions/mv/move", ["to": "http://10.0.0.9:8080"]).status == 200)
        first.crash()

        let second = try StepdProcess(dataDir: dir)
        let refused = try Self.post(second.client, "mv", step: 3)
        #expect(refused.status == 409, "a restarted source took a step of a session frozen for its move")
        #expect(refused.headers[.location] == "http://10.0.0.9:8080/v1/sessions/mv")
        #expect(second.log.contains("frozen for its move to http://10.0.0.9:8080"))
        // Completing the move (deleting the frozen source) leaves a moved-away record.
        #expect(try second.client.request("DELETE", "/v1/sessions/mv").status == 204)
        second.crash()

        let third = try StepdProcess(dataDir: dir)
        let gone = try third.client.request("GET", "/v1/sessions/mv")
        #expect(gone.status == 409)
        #expect(gone.headers[.location] == "http://10.0.0.9:8080/v1/sessions/mv")
        // A session created under the id again replaces the record, for good.
        #expect(try Self.json(third.client, "POST", "/v1/sessions", body).status == 201)
        third.crash()
        let fourth = try StepdProcess(dataDir: dir)
        defer { _ = fourth.terminate() }
        #expect(try Self.post(fourth.client, "mv", step: 0).status == 200)
        #expect(try fourth.client.request("DELETE", "/v1/sessions/mv").status == 204)
        #expect(try fourth.client.request("GET", "/v1/sessions/mv").status == 404)
    }

    @Test func aCancelledMoveStaysCancelledAcrossKillDashNine() throws {
        let dir = temporaryDirectory("unmove")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let body = Self.config(id: "um", snapshot: ["every_steps": 1])
        let first = try StepdProcess(dataDir: dir)
        #expect(try Self.json(first.client, "POST", "/v1/sessions", body).status == 201)
        #expect(try Self.json(first.client, "POST", "/v1/sessions/um/move", ["to": "http://10.0.0.9:8080"]).status == 200)
        #expect(try first.client.request("DELETE", "/v1/sessions/um/move").status == 200)
        first.crash()
        let second = try StepdProcess(dataDir: dir)
        defer { _ = second.terminate() }
        #expect(try Self.post(second.client, "um", step: 0).status == 200)
    }

    /// `--moved-keep` and `--moved-max-age` bound what is remembered, on disk as in memory.
    @Test func movedAwayIdsAreForgottenPastTheRetentionAcrossRestarts() throws {
        let dir = temporaryDirectory("forget")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try StepdProcess(dataDir: dir, extra: ["--moved-keep", "1"])
        for id in ["old", "new"] {
            #expect(try Self.json(first.client, "POST", "/v1/sessions", Self.config(id: id, snapshot: [:])).status == 201)
            #expect(try Self.json(first.client, "POST", "/v1/sessions/\(id)/move", ["to": "http://10.0.0.9:8080"]).status == 200)
            #expect(try first.client.request("DELETE", "/v1/sessions/\(id)").status == 204)
            usleep(5_000)  // distinct completion times: "old" is the older
        }
        #expect(try first.client.request("GET", "/v1/sessions/old").status == 404)
        #expect(try first.client.request("GET", "/v1/sessions/new").status == 409)
        first.crash()
        #expect(try MoveFiles(directory: SnapshotDirectory(dataDirectory: dir)).movedAway().records.map(\.id) == ["new"])
        let second = try StepdProcess(dataDir: dir, extra: ["--moved-max-age", "0"])
        defer { _ = second.terminate() }
        #expect(try second.client.request("GET", "/v1/sessions/new").status == 404)
        #expect(try MoveFiles(directory: SnapshotDirectory(dataDirectory: dir)).movedAway().records.isEmpty)
    }

    /// The dashboard polls `history?after=<total it saw>`: the count must go on across a restart.
    @Test func historyTotalCountsOnAcrossKillDashNine() throws {
        let dir = temporaryDirectory("total")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        guard case .object(var o) = Self.config(id: "t", snapshot: ["every_steps": 1]) else { return }
        o["history"] = ["capacity": 4]
        let first = try StepdProcess(dataDir: dir)
        #expect(try Self.json(first.client, "POST", "/v1/sessions", .object(o)).status == 201)
        for k in 0..<9 { #expect(try Self.post(first.client, "t", step: k).status == 200) }
        first.crash()
        let second = try StepdProcess(dataDir: dir)
        defer { _ = second.terminate() }
        let page = try second.client.request("GET", "/v1/sessions/t/history?after=8").json()
        #expect(page["total"] == .number(9))
        guard case .array(let records)? = page["records"] else { Issue.record("no records"); return }
        #expect(records.count == 1 && records.first?["step"] == .number(9))
    }

    @Test func checkpointMovesASessionToAnotherServerAndBothStayBitIdentical() throws {
        let a = try LiveServer(), b = try LiveServer()
        let body = Self.config(id: "m", snapshot: [:])
        #expect(try a.json("POST", "/v1/sessions", body).status == 201)
        for k in 0..<7 { #expect(try Self.post(a.client, "m", step: k).status == 200) }
        let file = try a.client.request("GET", "/v1/sessions/m/checkpoint")
        #expect(file.headers[.contentType] == "application/vnd.safetensors")
        let put = try b.client.request("PUT", "/v1/sessions/m/checkpoint", headers: [("Content-Type", "application/vnd.safetensors")], body: file.body)
        #expect(put.status == 201)
        for k in 7..<12 {
            let ra = try Self.post(a.client, "m", step: k), rb = try Self.post(b.client, "m", step: k)
            #expect(ra.status == 200 && rb.status == 200)
            #expect(ra.body == rb.body, "step answers differ at \(k)")
        }
        let ia = try Self.checkpoint(a.client, "m"), ib = try Self.checkpoint(b.client, "m")
        Self.expectSameState(ib, ia)
        Self.expectSameState(ia, try Self.reference(body, steps: 12))
    }

    @Test func aFailingDiskKeepsServingReports507AndNeverReplacesAGoodSnapshot() throws {
        let dir = temporaryDirectory("disk")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let manager = SnapshotManager(directory: SnapshotDirectory(dataDirectory: dir), defaults: .init(everySteps: 1, intervalSeconds: 0))
        let service = StepService(persistence: SnapshotPersistence(manager: manager), parallel: .serial)
        let router = service.router()
        func send(_ method: HTTPRequest.Method, _ target: String, _ body: [UInt8] = [], _ headers: HTTPFields = [:]) -> Response {
            router.handle(HTTPRequestHead(method: method, target: target, headers: headers), body: body)
        }
        #expect(send(.post, "/v1/sessions", Self.config(id: "d", snapshot: [:]).encoded, [.contentType: "application/json"]).status.code == 201)
        let raw: HTTPFields = [.contentType: "application/octet-stream", .idempotencyKey: "step-0"]
        #expect(send(.post, "/v1/sessions/d/steps", Self.gradient(0).littleEndianBytes, raw).status.code == 200)
        let sessionDir = "\(dir)/sessions/d"
        let good = try SnapshotDirectory(dataDirectory: dir).snapshots(of: "d")[0]
        let goodBytes = try Data(contentsOf: URL(fileURLWithPath: good.path))

        // Break the disk: the session's directory becomes a plain file.
        try FileManager.default.moveItem(atPath: sessionDir, toPath: sessionDir + ".aside")
        #expect(FileManager.default.createFile(atPath: sessionDir, contents: Data("not a directory".utf8)))
        let failing: HTTPFields = [.contentType: "application/octet-stream", .idempotencyKey: "step-1"]
        let r = send(.post, "/v1/sessions/d/steps", Self.gradient(1).littleEndianBytes, failing)
        #expect(r.status.code == 507)
        #expect(try r.jsonBody()["step"] == 2)
        let health = try send(.get, "/healthz").jsonBody()
        #expect(health == ["status": "degraded", "storage": "failing"], "open to anyone: no ids, counts or paths")
        let detail = "\(try r.jsonBody()["detail"] ?? .null)"
        #expect(!detail.contains(dir), "a 507 names no path of the data directory: \(detail)")
        #expect(String(decoding: try send(.get, "/metrics").collectBody(), as: UTF8.self).contains("stepd_storage_ok 0"))
        #expect(send(.get, "/v1/sessions/d/params").status.code == 200, "still serving")

        // Mend it: the good snapshot is untouched, and the retry makes step 2 durable without reapplying it.
        try FileManager.default.removeItem(atPath: sessionDir)
        try FileManager.default.moveItem(atPath: sessionDir + ".aside", toPath: sessionDir)
        #expect(try Data(contentsOf: URL(fileURLWithPath: good.path)) == goodBytes)
        let retry = send(.post, "/v1/sessions/d/steps", Self.gradient(1).littleEndianBytes, failing)
        #expect(retry.status.code == 200)
        #expect(try retry.jsonBody()["replayed"] == true)
        #expect(try send(.get, "/healthz").jsonBody() == ["status": "ok"])
        let listing = String(decoding: try send(.get, "/v1/sessions/d/snapshots").collectBody(), as: UTF8.self)
        #expect(listing.contains("\"file\":\"snapshot-") && !listing.contains(dir), "\(listing)")
        let newest = try #require(manager.directory.newestValid(session: "d").value)
        let image = try SessionCheckpoint.image(from: newest)
        Self.expectSameState(image, try Self.reference(Self.config(id: "d", snapshot: [:]), steps: 2))
    }
}

/// A counter shared between a client thread and the test.
final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    var value: Int { lock.withLock { n } }
    func set(_ v: Int) { lock.withLock { n = v } }
}
