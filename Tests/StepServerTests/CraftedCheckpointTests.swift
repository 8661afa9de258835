@testable import StepHTTP
import StepHTTPTesting
import StepCore
import StepJSON
import StepServer
import StepStore
import Testing
import StepTensors
import HTTPTypes

/// Crafted checkpoints posted to `POST /v1/sessions` (the uploads that killed the server): each
/// is answered 422 naming the field, nothing is created, and the server keeps serving.
@Suite struct CraftedCheckpointTests {
    static let create: JSONValue = [
        "id": "a", "optimizer": ["type": "adamw", "lr": 0.01], "accumulation": ["micro_batches": 2],
        "params": [["name": "w", "shape": [2, 2], "values": [1, 2, 3, 4]]],
    ]

    /// The checkpoint of a session with one micro-batch in, re-written without a checksum and
    /// with `edit` applied to its metadata.
    static func crafted(_ router: Router, _ edit: (inout [String: String]) -> Void) throws -> [UInt8] {
        let original = try SafetensorsFile(bytes: try router.handle(HTTPRequestHead(method: .get, target: "/v1/sessions/a/checkpoint")).collectBody())
        var meta = original.metadata
        meta[SafetensorsChecksum.metadataKey] = nil
        edit(&meta)
        let arrays = try original.tensors.map { try original.floats($0.name) }
        return try withExtendedLifetime(arrays) {
            let tensors = zip(original.tensors, arrays).map { t, a in
                SafetensorsWriter.Tensor(name: t.name, shape: t.shape, floats: a.withUnsafeBufferPointer { $0 })
            }
            return try SafetensorsWriter(tensors: tensors, metadata: meta, checksum: false).makeBytes()
        }
    }

    @Test(arguments: ["seen", "shape"])
    func aCraftedCheckpointIs422AndTheServerLivesOn(kind: String) throws {
        let service = StepService(parallel: .serial)
        let router = service.router()
        var h = HTTPFields()
        h[.contentType] = "application/json"
        #expect(router.handle(HTTPRequestHead(method: .post, target: "/v1/sessions", headers: h), body: Self.create.encoded).status.code == 201)
        #expect(router.handle(HTTPRequestHead(method: .post, target: "/v1/sessions/a/steps", headers: h),
                              body: (["grads": ["w": [1, 1, 1, 1]]] as JSONValue).encoded).status.code == 200)
        let bytes = try Self.crafted(router) { meta in
            meta["session_id"] = "b"
            if kind == "seen" {
                meta["accumulation"] = #"{"seen": [[1e300, 0]], "losses": [], "finite": true}"#
            } else {
                meta["config"] = #"{"optimizer": {"type": "adamw"}, "params": [{"name": "w", "shape": [1048576, 1048576], "init": "zeros"}]}"#
                meta["accumulation"] = nil
            }
        }
        var st = HTTPFields()
        st[.contentType] = "application/vnd.safetensors"
        let r = router.handle(HTTPRequestHead(method: .post, target: "/v1/sessions", headers: st), body: bytes)
        #expect([422, 507].contains(r.status.code))
        #expect(r.headers[.contentType] == "application/problem+json")
        #expect(router.handle(HTTPRequestHead(method: .get, target: "/v1/sessions/b")).status.code == 404)
        #expect(router.handle(HTTPRequestHead(method: .get, target: "/healthz")).status.code == 200)
        #expect(service.registry.count == 1)
    }
}
