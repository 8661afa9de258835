@testable import StepHTTP
import StepHTTPTesting
import Foundation
import StepCore
import StepJSON
import StepStore
import Testing
@testable import StepServer

/// A tenant's `max_sessions` and `max_param_bytes` hold however its sessions arrive (create,
/// checkpoint upload, an admin's upload into it), are checked before anything is allocated,
/// answer 507 naming the tenant's quota, and leave other tenants alone.
@Suite struct TenantQuotaTests {
    /// What a 4-float AdamW session (`TenantFixture.create`) holds, by the registry's measure.
    static var smallSessionBytes: Int {
        get throws {
            guard case .object(var o) = TenantFixture.create("x") else { return 0 }
            o["id"] = nil
            return try SessionConfig.parse(.object(o)).0.residentBytes
        }
    }

    static func fixture() throws -> TenantFixture {
        let bytes = try smallSessionBytes
        return try TenantFixture(keys: TestKeysFile(keys: [
            .init(key: "key-admin", tenant: "ops", role: "admin"),
            .init(key: "key-q", tenant: "team-q", role: "trainer", maxSessions: 2),
            .init(key: "key-q-reader", tenant: "team-q", role: "reader"),
            .init(key: "key-m", tenant: "team-m", role: "trainer", maxParamBytes: 2 * bytes + bytes / 2),
            .init(key: "key-free", tenant: "team-free", role: "trainer"),
        ]), sessions: false)
    }

    static func problem(_ r: Response) -> String {
        guard case .string(let d)? = try? r.jsonBody()["detail"] else { return "" }
        return d
    }

    @Test func theSessionAfterMaxSessionsIs507AndOthersAreUnaffected() throws {
        let f = try Self.fixture()
        #expect(f.send("POST", "/v1/sessions", key: "key-q", json: TenantFixture.create("q1")).status.code == 201)
        #expect(f.send("POST", "/v1/sessions", key: "key-q", json: TenantFixture.create("q2")).status.code == 201)
        let third = f.send("POST", "/v1/sessions", key: "key-q", json: TenantFixture.create("q3"))
        #expect(third.status.code == 507)
        #expect(Self.problem(third).contains("tenant \"team-q\""), "\(Self.problem(third))")
        #expect(Self.problem(third).contains("max_sessions"))
        #expect(f.service.registry.all.map(\.id) == ["q1", "q2"], "nothing was created")
        for i in 1...3 {
            #expect(f.send("POST", "/v1/sessions", key: "key-free", json: TenantFixture.create("f\(i)")).status.code == 201)
        }
        // Freed by a delete.
        #expect(f.send("DELETE", "/v1/sessions/q1", key: "key-q").status.code == 204)
        #expect(f.send("POST", "/v1/sessions", key: "key-q", json: TenantFixture.create("q3")).status.code == 201)
    }

    @Test func parameterBytesOverTheTenantsQuotaAre507() throws {
        let f = try Self.fixture()
        #expect(f.send("POST", "/v1/sessions", key: "key-m", json: TenantFixture.create("m1")).status.code == 201)
        #expect(f.send("POST", "/v1/sessions", key: "key-m", json: TenantFixture.create("m2")).status.code == 201)
        let over = f.send("POST", "/v1/sessions", key: "key-m", json: TenantFixture.create("m3"))
        #expect(over.status.code == 507)
        #expect(Self.problem(over).contains("tenant \"team-m\""), "\(Self.problem(over))")
        #expect(Self.problem(over).contains("max_param_bytes"))
        #expect(f.service.registry.all.map(\.id) == ["m1", "m2"])
        #expect(f.send("POST", "/v1/sessions", key: "key-free", json: TenantFixture.create("f1")).status.code == 201)
    }

    @Test func checkpointUploadsCountAgainstTheQuotaButReplacingOnesOwnSessionFitsAtFullQuota() throws {
        let f = try Self.fixture()
        for id in ["q1", "q2"] {
            #expect(f.send("POST", "/v1/sessions", key: "key-q", json: TenantFixture.create(id)).status.code == 201)
        }
        let file = try f.checkpoint("q1")
        let safetensors = TensorMediaType.safetensors
        #expect(f.send("PUT", "/v1/sessions/q9/checkpoint", key: "key-q", body: file, contentType: safetensors).status.code == 507)
        #expect(f.send("POST", "/v1/sessions?id=q9", key: "key-q", body: file, contentType: safetensors).status.code == 507)
        // The file says team-q: an admin's upload lands in team-q, so team-q's quota applies to it.
        #expect(f.send("PUT", "/v1/sessions/q9/checkpoint", key: "key-admin", body: file, contentType: safetensors).status.code == 507)
        #expect(f.send("PUT", "/v1/sessions/q2/checkpoint", key: "key-q", body: file, contentType: safetensors).status.code == 200)
        #expect(f.service.registry.all.map(\.id) == ["q1", "q2"])
    }

    @Test func theQuotaInForceIsTheOneOfTheLatestKeysFile() throws {
        let f = try Self.fixture()
        for id in ["q1", "q2"] {
            #expect(f.send("POST", "/v1/sessions", key: "key-q", json: TenantFixture.create(id)).status.code == 201)
        }
        try TestKeysFile(keys: [.init(key: "key-q", tenant: "team-q", role: "trainer", maxSessions: 3)]).write(to: f.keysPath)
        try f.service.reloadKeys()
        #expect(f.send("POST", "/v1/sessions", key: "key-q", json: TenantFixture.create("q3")).status.code == 201)
        #expect(f.send("POST", "/v1/sessions", key: "key-q", json: TenantFixture.create("q4")).status.code == 507)
    }
}
