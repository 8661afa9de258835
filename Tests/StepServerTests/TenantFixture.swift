@testable import StepHTTP
import StepHTTPTesting
import Foundation
import StepCore
import StepJSON
import StepStore
@testable import StepServer
import HTTPTypes

/// A keys file as the README describes it, from plain keys: each key is stored as its SHA-256.
struct TestKeysFile {
    struct Key {
        var key: String
        var tenant: String
        var role: String
        var maxSessions: Int? = nil
        var maxParamBytes: Int? = nil
    }

    var keys: [Key]

    var json: JSONValue {
        ["keys": .array(keys.map { k in
            var o = JSONObject()
            o["sha256"] = .string(TestKeysFile.hex(KeysTable.sha256(k.key.utf8)))
            o["tenant"] = .string(k.tenant)
            o["role"] = .string(k.role)
            if let n = k.maxSessions { o["max_sessions"] = .number(Double(n)) }
            if let n = k.maxParamBytes { o["max_param_bytes"] = .number(Double(n)) }
            return .object(o)
        })]
    }

    /// Written to a temporary name and renamed over `path`, so a reload never reads half a file.
    func write(to path: String) throws {
        try TestKeysFile.write(json.encoded, to: path)
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        let tmp = path + ".tmp"
        try Data(bytes).write(to: URL(fileURLWithPath: tmp))
        guard rename(tmp, path) == 0 else { throw ConformanceLikeError("rename \(tmp) -> \(path): errno \(errno)") }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }
}

/// One server (in-process, snapshots in a temporary directory) with an admin token, a keys
/// file of four keys over three tenants, and one session each for tenants a and b:
/// `a1` created by a's trainer and `b1` by b's.
final class TenantFixture {
    static let token = "root-token"
    static let keys = TestKeysFile(keys: [
        .init(key: "key-ops-admin", tenant: "ops", role: "admin"),
        .init(key: "key-a-trainer", tenant: "team-a", role: "trainer"),
        .init(key: "key-a-reader", tenant: "team-a", role: "reader"),
        .init(key: "key-b-trainer", tenant: "team-b", role: "trainer"),
        .init(key: "key-b-reader", tenant: "team-b", role: "reader"),
    ])

    let dir: String
    let keysPath: String
    let service: StepService
    let router: Router

    static func create(_ id: String, values: [Float] = [1, 2, 3, 4]) -> JSONValue {
        ["id": .string(id), "optimizer": ["type": "adamw", "lr": 0.01],
         "params": [["name": "w", "shape": [4], "values": .array(values.map { .number(Double($0)) })]]]
    }

    init(keys: TestKeysFile = TenantFixture.keys, limits: SessionRegistry.Limits = .init(), sessions: Bool = true) throws {
        dir = temporaryDirectory("tenants")
        keysPath = dir + "/keys.json"
        try keys.write(to: keysPath)
        let manager = SnapshotManager(directory: SnapshotDirectory(dataDirectory: dir + "/data"),
                                      defaults: .init(everySteps: 0, intervalSeconds: 0))
        service = StepService(registry: SessionRegistry(limits: limits), persistence: SnapshotPersistence(manager: manager),
                              authenticator: try Authenticator(token: Self.token, keysFile: keysPath), parallel: .serial)
        router = service.router()
        guard sessions else { return }
        for (id, key) in [("a1", "key-a-trainer"), ("b1", "key-b-trainer")] {
            let r = send("POST", "/v1/sessions", key: key, json: Self.create(id))
            guard r.status.code == 201 else { throw ConformanceLikeError("creating \(id): \(r.status) \(r.text)") }
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    func send(_ method: String, _ target: String, key: String?, json: JSONValue? = nil, body: [UInt8]? = nil,
              contentType: String? = nil) -> Response {
        var h = HTTPFields()
        if let key { h[.authorization] = "Bearer \(key)" }
        var bytes: [UInt8] = []
        if let json { bytes = json.encoded; h[.contentType] = "application/json" }
        if let body { bytes = body }
        if let contentType { h[.contentType] = contentType }
        if !bytes.isEmpty { h[.contentLength] = String(bytes.count) }
        return router.handle(HTTPRequestHead(method: HTTPRequest.Method(token: method), target: target, headers: h), body: bytes)
    }

    /// The checkpoint file of `id`, as an admin downloads it.
    func checkpoint(_ id: String) throws -> [UInt8] {
        let r = send("GET", "/v1/sessions/\(id)/checkpoint", key: Self.token)
        guard r.status.code == 200 else { throw ConformanceLikeError("checkpoint of \(id): \(r.status)") }
        return try r.collectBody()
    }

    /// What a refused request must leave alone: the very session object, its change counter
    /// and its parameters.
    func fingerprint(_ id: String) throws -> String {
        let s = try service.registry.get(id)
        let image = s.capture()
        return "\(ObjectIdentifier(s)) v\(image.version) step \(image.step) \(image.state.params.array) tenant \(s.tenant ?? "-")"
    }
}

extension Response {
    var text: String { String(decoding: (try? collectBody()) ?? [], as: UTF8.self) }
}
