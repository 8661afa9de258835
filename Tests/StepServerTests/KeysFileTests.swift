@testable import StepHTTP
import StepHTTPTesting
import Foundation
import StepJSON
import Testing
@testable import StepServer
import HTTPTypes

/// The keys file: what it accepts, how a bad one is refused (naming the field), reloading, the
/// hash recipe the README gives, `STEPD_TOKEN` beside it, and who may read /metrics.
@Suite struct KeysFileTests {
    static let validKey = #"{"sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "tenant": "t", "role": "trainer"}"#

    /// Writes `text` as a keys file and loads it.
    static func load(_ text: String, token: String? = nil) throws -> Authenticator {
        let dir = temporaryDirectory("keys")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/keys.json"
        try TestKeysFile.write(Array(text.utf8), to: path)
        return try Authenticator(token: token, keysFile: path)
    }

    static func get(_ a: Authenticator, _ path: String, key: String?) -> Response {
        var r = Router()
        r.authenticator = a
        r.get("/v1/sessions") { head, _ in .json(["tenant": head.principal?.tenant.map { .string($0) } ?? .null]) }
        r.get("/metrics") { _, _ in .respond(.text("")) }
        r.get("/healthz") { _, _ in .respond(.text("ok")) }
        var h = HTTPFields()
        if let key { h[.authorization] = "Bearer \(key)" }
        return r.handle(HTTPRequestHead(method: .get, target: path, headers: h))
    }

    static let badFiles: [(String, String, String)] = [
        (#"[]"#, "", "expected an object"),
        (#"{}"#, "keys", "is required"),
        (#"{"keys": {}}"#, "keys", "expected an array"),
        (#"{"keys": [], "tenants": []}"#, "tenants", "unknown field"),
        (#"{"keys": [{"tenant": "t", "role": "admin"}]}"#, "keys[0].sha256", "is required"),
        (#"{"keys": [{"sha256": "abc", "tenant": "t", "role": "admin"}]}"#, "keys[0].sha256", "64 hex digits"),
        (#"{"keys": [{"sha256": "zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "tenant": "t", "role": "admin"}]}"#,
         "keys[0].sha256", "64 hex digits"),
        ("{\"keys\": [\(validKey), \(validKey)]}", "keys[1].sha256", "the same key as keys[0]"),
        (#"{"keys": [{"sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "role": "admin"}]}"#,
         "keys[0].tenant", "is required"),
        (#"{"keys": [{"sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "tenant": "team a", "role": "admin"}]}"#,
         "keys[0].tenant", "A-Z a-z 0-9"),
        (#"{"keys": [{"sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "tenant": "t"}]}"#,
         "keys[0].role", "admin, trainer, reader"),
        (#"{"keys": [{"sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "tenant": "t", "role": "owner"}]}"#,
         "keys[0].role", "got \"owner\""),
        (#"{"keys": [{"sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "tenant": "t", "role": "admin", "max_session": 3}]}"#,
         "keys[0].max_session", "did you mean \"max_sessions\""),
        (#"{"keys": [{"sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "tenant": "t", "role": "admin", "max_sessions": -1}]}"#,
         "keys[0].max_sessions", ">= 0"),
        (#"{"keys": [{"sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "tenant": "t", "role": "admin", "max_param_bytes": 1.5}]}"#,
         "keys[0].max_param_bytes", "integer"),
        (#"{"keys": [{"sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "tenant": "t", "role": "admin", "max_sessions": 2},"#
            + #" {"sha256": "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", "tenant": "t", "role": "reader", "max_sessions": 3}]}"#,
         "keys[1].max_sessions", "keys[0] gives tenant \"t\" 2"),
        (#"{"keys": [{"#, "", "is not JSON"),
    ]

    @Test(arguments: badFiles)
    func aKeysFileThatDoesNotValidateIsRefusedNamingTheField(_ text: String, _ field: String, _ mention: String) throws {
        do {
            _ = try Self.load(text)
            Issue.record("accepted: \(text)")
        } catch let error as KeysFileError {
            #expect(error.field == field, "\(error)")
            #expect(error.description.contains(mention), "\(error)")
            #expect(error.description.hasPrefix("keys file /"), "\(error)")
        }
    }

    @Test func aMissingKeysFileIsRefusedNamingThePath() {
        #expect(throws: KeysFileError.self) { try Authenticator(keysFile: "/nonexistent/keys.json") }
        do { _ = try Authenticator(keysFile: "/nonexistent/keys.json") } catch {
            #expect("\(error)".contains("/nonexistent/keys.json"))
        }
    }

    @Test func theTokensOwnHashInTheFileIsRefused() throws {
        // ba78...15ad is SHA-256("abc").
        #expect(throws: KeysFileError.self) { try Self.load("{\"keys\": [\(Self.validKey)]}", token: "abc") }
    }

    /// FIPS 180-4's examples (SHA-256 of "abc" and of the 448-bit two-block message): the file
    /// holds the digest of the key's bytes as `printf %s "$KEY" | sha256sum` prints it, in
    /// either case, with no newline hashed.
    @Test func aKeyIsItsSHA256AsSha256sumPrintsIt() throws {
        let twoBlock = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        #expect(TestKeysFile.hex(KeysTable.sha256(twoBlock.utf8)) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        let a = try Self.load(#"{"keys": [{"sha256": "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", "tenant": "t", "role": "reader"},"#
                              + #" {"sha256": "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", "tenant": "u", "role": "admin"}]}"#)
        #expect(try Self.get(a, "/v1/sessions", key: "abc").jsonBody()["tenant"] == "t")
        #expect(try Self.get(a, "/v1/sessions", key: twoBlock).jsonBody()["tenant"] == "u")
        #expect(Self.get(a, "/v1/sessions", key: "abc ").status.code == 200, "spaces around the key are not part of it")
        #expect(Self.get(a, "/v1/sessions", key: "abcd").status.code == 401)
        #expect(Self.get(a, "/v1/sessions", key: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad").status.code == 401,
                "the hash itself is not a key")
    }

    @Test func anEmptyKeysListLetsOnlyTheTokenIn() throws {
        let a = try Self.load(#"{"keys": []}"#, token: "root")
        #expect(Self.get(a, "/v1/sessions", key: nil).status.code == 401)
        #expect(Self.get(a, "/v1/sessions", key: "root").status.code == 200)
        let none = try Self.load(#"{"keys": []}"#)
        #expect(Self.get(none, "/v1/sessions", key: nil).status.code == 401, "a keys file, even empty, means keys are required")
    }

    @Test func theTokenAndTheKeysFileWorkTogether() throws {
        let a = try Self.load("{\"keys\": [\(Self.validKey)]}", token: "root")
        #expect(try Self.get(a, "/v1/sessions", key: "root").jsonBody()["tenant"] == .null)
        #expect(try Self.get(a, "/v1/sessions", key: "abc").jsonBody()["tenant"] == "t")
        let wrong = Self.get(a, "/v1/sessions", key: "rooT")
        #expect(wrong.status.code == 401)
        #expect(wrong.headers[.wwwAuthenticate]?.contains("invalid_token") == true)
        #expect(wrong.headers[.contentType] == "application/problem+json")
    }

    @Test func reloadPutsANewFileInForceAndABadOneChangesNothing() throws {
        let f = try TenantFixture(sessions: false)
        #expect(f.send("GET", "/v1/sessions", key: "key-a-trainer").status.code == 200)
        try TestKeysFile(keys: [.init(key: "key-a-new", tenant: "team-a", role: "trainer")]).write(to: f.keysPath)
        #expect(try f.service.reloadKeys() == 1)
        #expect(f.send("GET", "/v1/sessions", key: "key-a-trainer").status.code == 401)
        #expect(f.send("GET", "/v1/sessions", key: "key-a-new").status.code == 200)
        #expect(f.send("GET", "/v1/sessions", key: TenantFixture.token).status.code == 200, "the token is not in the file")

        try TestKeysFile.write(Array(#"{"keys": [{"sha256": "nope"}]}"#.utf8), to: f.keysPath)
        #expect(throws: KeysFileError.self) { try f.service.reloadKeys() }
        #expect(f.send("GET", "/v1/sessions", key: "key-a-new").status.code == 200)
        #expect(f.send("GET", "/v1/sessions", key: "key-a-trainer").status.code == 401)
        #expect(f.service.metrics.render().contains("stepd_keys_reloads_total{result=\"applied\"} 1\n"))
        #expect(f.service.metrics.render().contains("stepd_keys_reloads_total{result=\"refused\"} 1\n"))
    }

    @Test func withAKeysFileMetricsNeedAnAdminKeyAndHealthzStaysOpen() throws {
        let f = try TenantFixture(sessions: false)
        #expect(f.send("GET", "/metrics", key: nil).status.code == 401)
        #expect(f.send("GET", "/metrics", key: "key-nobody").status.code == 401)
        #expect(f.send("GET", "/metrics", key: "key-a-trainer").status.code == 403)
        #expect(f.send("GET", "/metrics", key: "key-a-reader").status.code == 403)
        #expect(f.send("GET", "/metrics", key: "key-ops-admin").status.code == 200)
        #expect(f.send("GET", "/metrics", key: TenantFixture.token).status.code == 200)
        #expect(f.send("GET", "/healthz", key: nil).status.code == 200)
        #expect(f.send("GET", "/healthz", key: "key-nobody").status.code == 200)
        // Only the token: /metrics stays open as it always was.
        let tokenOnly = StepService(authenticator: Authenticator(token: "root"), parallel: .serial).router()
        #expect(tokenOnly.handle(HTTPRequestHead(method: .get, target: "/metrics")).status.code == 200)
    }

    @Test func metricsCountSessionsBytesAndStepsByTenant() throws {
        let f = try TenantFixture()
        let step: JSONValue = ["grads": ["w": [0.1, 0.2, 0.3, 0.4]]]
        #expect(f.send("POST", "/v1/sessions/a1/steps", key: "key-a-trainer", json: step).status.code == 200)
        #expect(f.send("POST", "/v1/sessions/a1/steps", key: "key-a-trainer", json: ["grads": ["w": ["nan", 0, 0, 0]]]).status.code == 200)
        #expect(f.send("POST", "/v1/sessions", key: TenantFixture.token, json: TenantFixture.create("t1")).status.code == 201)
        let text = f.send("GET", "/metrics", key: "key-ops-admin").text
        let bytes = try f.service.registry.get("a1").config.residentBytes
        // Gauges are exposed as doubles ("1.0"), counters as integers.
        for line in ["stepd_sessions{tenant=\"team-a\"} 1.0", "stepd_sessions{tenant=\"team-b\"} 1.0", "stepd_sessions{tenant=\"ops\"} 0.0",
                     "stepd_sessions{tenant=\"\"} 1.0", "stepd_parameter_bytes{tenant=\"team-a\"} \(Double(bytes))",
                     "stepd_steps_total{tenant=\"team-a\",result=\"applied\"} 1",
                     "stepd_steps_total{tenant=\"team-a\",result=\"skipped\"} 1"] {
            #expect(text.contains(line + "\n"), "missing \(line)")
        }
        #expect(!text.contains("tenant=\"team-b\",result"), "team-b took no step")
    }
}
