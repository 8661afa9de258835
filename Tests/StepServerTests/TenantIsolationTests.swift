@testable import StepHTTP
import StepHTTPTesting
import Foundation
import StepCore
import StepJSON
import StepStore
import Testing
@testable import StepServer
import StepTensors

/// Every /v1 route, as each kind of caller: another tenant cannot tell a session exists, a
/// reader reads but never writes, the owner and admins do everything.
@Suite struct TenantIsolationTests {
    /// One route on one session, with a request that succeeds for the owner.
    struct RouteCase: Sendable, CustomTestStringConvertible {
        var method: String
        var pattern: String
        var query = ""
        var writes: Bool
        /// The owner's status.
        var ok: Int
        /// Another tenant's trainer: 404 as for a missing session, except where the route
        /// would create the session, which finds the id taken.
        var otherTenant = 404
        /// Body and content type for a request on `id`.
        var body: @Sendable (TenantFixture, String) throws -> (bytes: [UInt8], type: String?) = { _, _ in ([], nil) }

        var testDescription: String { "\(method) \(pattern)" }

        func target(_ id: String) -> String { pattern.replacingOccurrences(of: "{id}", with: id) + query }

        func send(_ f: TenantFixture, _ id: String, key: String?) throws -> Response {
            let (bytes, type) = try body(f, id)
            return f.send(method, target(id), key: key, body: bytes, contentType: type)
        }
    }

    static func json(_ value: JSONValue) -> @Sendable (TenantFixture, String) throws -> (bytes: [UInt8], type: String?) {
        { _, _ in (value.encoded, "application/json") }
    }

    static let routes: [RouteCase] = [
        .init(method: "GET", pattern: "/v1/sessions/{id}", writes: false, ok: 200),
        .init(method: "PATCH", pattern: "/v1/sessions/{id}", writes: true, ok: 200,
              body: json(["optimizer": ["lr": 0.5]])),
        .init(method: "DELETE", pattern: "/v1/sessions/{id}", writes: true, ok: 204),
        .init(method: "POST", pattern: "/v1/sessions/{id}/steps", writes: true, ok: 200,
              body: json(["grads": ["w": [0.1, 0.2, 0.3, 0.4]]])),
        .init(method: "GET", pattern: "/v1/sessions/{id}/params", writes: false, ok: 200),
        .init(method: "PUT", pattern: "/v1/sessions/{id}/params", writes: true, ok: 200,
              body: json(["params": ["w": [9, 9, 9, 9]]])),
        .init(method: "GET", pattern: "/v1/sessions/{id}/schedule", query: "?preview=3", writes: false, ok: 200),
        .init(method: "GET", pattern: "/v1/sessions/{id}/history", writes: false, ok: 200),
        .init(method: "GET", pattern: "/v1/sessions/{id}/checkpoint", writes: false, ok: 200),
        .init(method: "PUT", pattern: "/v1/sessions/{id}/checkpoint", writes: true, ok: 200, otherTenant: 409,
              body: { f, id in (try f.checkpoint(id == "nope" ? "b1" : id), TensorMediaType.safetensors) }),
        .init(method: "POST", pattern: "/v1/sessions/{id}/snapshots", writes: true, ok: 201),
        .init(method: "GET", pattern: "/v1/sessions/{id}/snapshots", writes: false, ok: 200),
    ]

    /// The table is checked against the router itself, so a route added later without a
    /// tenant test fails here. The collection routes are tested on their own below.
    @Test func theTableCoversEveryV1Route() throws {
        let f = try TenantFixture(sessions: false)
        let registered = Set(f.router.routes.filter { $0.pattern.text.hasPrefix("/v1") }.map { "\($0.method.rawValue) \($0.pattern.text)" })
        let tested = Set(Self.routes.map { "\($0.method) \($0.pattern)" }).union(["GET /v1/sessions", "POST /v1/sessions"])
        #expect(registered == tested)
    }

    @Test(arguments: routes)
    func anotherTenantsSessionIsIndistinguishableFromAMissingOne(_ route: RouteCase) throws {
        for key in ["key-b-trainer", "key-b-reader"] {
            let f = try TenantFixture()
            let before = try f.fingerprint("a1")
            let r = try route.send(f, "a1", key: key)
            let reader = key.hasSuffix("reader")
            if route.otherTenant == 404 {
                #expect(r.status.code == 404, "\(key): \(r.text)")
                // Word for word what a session that does not exist gets.
                let missing = try route.send(f, "nope", key: key)
                #expect(r.text.replacingOccurrences(of: "a1", with: "nope") == missing.text)
            } else {
                // A reader may not load a checkpoint anywhere, so its 403 tells nothing about a1.
                #expect(r.status.code == (reader ? 403 : route.otherTenant), "\(key): \(r.text)")
            }
            #expect(try f.fingerprint("a1") == before, "\(key) changed a1")
        }
    }

    @Test(arguments: routes)
    func aReaderReadsItsTenantsSessionsButCannotWriteThem(_ route: RouteCase) throws {
        let f = try TenantFixture()
        let before = try f.fingerprint("a1")
        let r = try route.send(f, "a1", key: "key-a-reader")
        if route.writes {
            #expect(r.status.code == 403, "\(r.text)")
            #expect(r.headers[.contentType] == "application/problem+json")
            #expect(r.text.contains("reader"), "\(r.text)")
            #expect(try f.fingerprint("a1") == before)
        } else {
            #expect(r.status.code == route.ok, "\(r.text)")
        }
    }

    @Test(arguments: routes)
    func theOwnerAndEveryAdminMayUseTheRoute(_ route: RouteCase) throws {
        for key in ["key-a-trainer", "key-ops-admin", TenantFixture.token] {
            let f = try TenantFixture()
            let r = try route.send(f, "a1", key: key)
            #expect(r.status.code == route.ok, "\(key): \(r.text)")
        }
    }

    @Test(arguments: routes)
    func withoutAValidKeyEveryRouteIs401(_ route: RouteCase) throws {
        let f = try TenantFixture()
        let before = try f.fingerprint("a1")
        for key in [nil, "key-nobody", "Key-a-trainer", "key-a-traine", TestKeysFile.hex(KeysTable.sha256("key-a-trainer".utf8))] {
            let r = try route.send(f, "a1", key: key)
            #expect(r.status.code == 401, "\(String(describing: key)): \(r.text)")
            #expect(r.headers[.contentType] == "application/problem+json")
        }
        #expect(try f.fingerprint("a1") == before)
    }

    @Test func theListShowsATenantOnlyItsOwnSessionsAndAdminsAll() throws {
        let f = try TenantFixture()
        func ids(_ key: String) throws -> [String] {
            let r = f.send("GET", "/v1/sessions", key: key)
            #expect(r.status.code == 200)
            guard case .array(let list)? = try r.jsonBody()["sessions"] else { return [] }
            return list.compactMap { if case .string(let s)? = $0["id"] { s } else { nil } }
        }
        #expect(try ids("key-a-trainer") == ["a1"])
        #expect(try ids("key-a-reader") == ["a1"])
        #expect(try ids("key-b-trainer") == ["b1"])
        #expect(try ids("key-ops-admin") == ["a1", "b1"])
        #expect(try ids(TenantFixture.token) == ["a1", "b1"])
        let listed = try f.send("GET", "/v1/sessions", key: "key-ops-admin").jsonBody()["sessions"]
        #expect(listed?.text.contains("\"tenant\":\"team-b\"") == true)
        #expect(f.send("GET", "/v1/sessions", key: nil).status.code == 401)
    }

    @Test func aSessionBelongsToTheTenantOfTheKeyThatCreatedIt() throws {
        let f = try TenantFixture()
        #expect(try f.service.registry.get("a1").tenant == "team-a")
        #expect(try f.send("GET", "/v1/sessions/a1", key: "key-a-reader").jsonBody()["tenant"] == "team-a")
        let byAdmin = f.send("POST", "/v1/sessions", key: "key-ops-admin", json: TenantFixture.create("o1"))
        #expect(byAdmin.status.code == 201)
        #expect(try f.service.registry.get("o1").tenant == "ops")
        let byToken = f.send("POST", "/v1/sessions", key: TenantFixture.token, json: TenantFixture.create("t1"))
        #expect(byToken.status.code == 201)
        #expect(try f.service.registry.get("t1").tenant == nil, "the token's admin has no tenant")
        #expect(f.send("GET", "/v1/sessions/t1", key: "key-a-trainer").status.code == 404)
        #expect(f.send("GET", "/v1/sessions/t1", key: "key-ops-admin").status.code == 200)
    }

    @Test func aReaderCannotCreateSessionsInAnyEncoding() throws {
        let f = try TenantFixture()
        let json = f.send("POST", "/v1/sessions", key: "key-a-reader", json: TenantFixture.create("r1"))
        #expect(json.status.code == 403, "\(json.text)")
        let file = try f.checkpoint("a1")
        let fromFile = f.send("POST", "/v1/sessions?id=r2", key: "key-a-reader", body: file, contentType: TensorMediaType.safetensors)
        #expect(fromFile.status.code == 403)
        #expect(f.service.registry.all.map(\.id) == ["a1", "b1"])
    }

    @Test func aCheckpointUploadBelongsToTheUploaderWhateverTheFileSays() throws {
        let f = try TenantFixture()
        let fileOfA = try f.checkpoint("a1")
        #expect(try SessionCheckpoint.image(from: SafetensorsFile(bytes: fileOfA)).tenant == "team-a")

        // b loads a's file under new ids, by POST and by PUT: both are b's, invisible to a.
        let post = f.send("POST", "/v1/sessions?id=copy1", key: "key-b-trainer", body: fileOfA, contentType: TensorMediaType.safetensors)
        #expect(post.status.code == 201, "\(post.text)")
        let put = f.send("PUT", "/v1/sessions/copy2/checkpoint", key: "key-b-trainer", body: fileOfA, contentType: TensorMediaType.safetensors)
        #expect(put.status.code == 201, "\(put.text)")
        for id in ["copy1", "copy2"] {
            #expect(try f.service.registry.get(id).tenant == "team-b")
            #expect(f.send("GET", "/v1/sessions/\(id)", key: "key-a-trainer").status.code == 404)
            #expect(f.send("GET", "/v1/sessions/\(id)", key: "key-b-reader").status.code == 200)
        }
        // Without ?id= the file's own id is a1, which is taken: b cannot replace or take it over.
        let clash = f.send("POST", "/v1/sessions", key: "key-b-trainer", body: fileOfA, contentType: TensorMediaType.safetensors)
        #expect(clash.status.code == 409)
        #expect(try f.service.registry.get("a1").tenant == "team-a")
    }

    @Test func anAdminUploadKeepsTheFilesTenantSoSessionsCanMoveBetweenServers() throws {
        let f = try TenantFixture()
        let fileOfA = try f.checkpoint("a1")
        #expect(f.send("DELETE", "/v1/sessions/a1", key: TenantFixture.token).status.code == 204)
        let put = f.send("PUT", "/v1/sessions/a1/checkpoint", key: "key-ops-admin", body: fileOfA, contentType: TensorMediaType.safetensors)
        #expect(put.status.code == 201, "\(put.text)")
        #expect(try f.service.registry.get("a1").tenant == "team-a")
        #expect(f.send("GET", "/v1/sessions/a1", key: "key-a-reader").status.code == 200)
        #expect(f.send("GET", "/v1/sessions/a1", key: "key-b-trainer").status.code == 404)
    }

    @Test func aCheckpointNamingAnImpossibleTenantIs422() throws {
        let f = try TenantFixture()
        var image = try f.service.registry.get("a1").capture()
        image.tenant = "team a/../b"
        let bytes = try withExtendedLifetime(image) { try SessionCheckpoint.writer(image).makeBytes() }
        for key in ["key-ops-admin", "key-a-trainer"] {
            let r = f.send("PUT", "/v1/sessions/bad/checkpoint", key: key, body: bytes, contentType: TensorMediaType.safetensors)
            #expect(r.status.code == 422, "\(key): \(r.text)")
            #expect(r.text.contains("__metadata__.tenant"), "\(r.text)")
        }
    }
}
