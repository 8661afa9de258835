@testable import StepHTTP
import StepHTTPTesting
import Foundation
import StepJSON
import Testing

/// Tenants with the real binary: SIGHUP reloads the keys file, a broken file changes nothing,
/// a bad file stops start-up, `STEPD_TOKEN` sits beside the keys, and owners survive a crash.
@Suite(.serialized) struct TenantProcessTests {
    static let keys = TestKeysFile(keys: [
        .init(key: "key-admin", tenant: "ops", role: "admin"),
        .init(key: "key-a", tenant: "team-a", role: "trainer"),
        .init(key: "key-b", tenant: "team-b", role: "trainer"),
    ])

    static func get(_ p: StepdProcess, _ target: String, key: String?) throws -> TestHTTPClient.Response {
        try p.client.request("GET", target, headers: key.map { [("Authorization", "Bearer \($0)")] } ?? [])
    }

    static func create(_ p: StepdProcess, _ id: String, key: String) throws -> Int {
        try p.client.request("POST", "/v1/sessions", headers: [("Authorization", "Bearer \(key)"), ("Content-Type", "application/json")],
                             body: TenantFixture.create(id).encoded).status
    }

    static func listed(_ p: StepdProcess, key: String) throws -> [String] {
        guard case .array(let list)? = try get(p, "/v1/sessions", key: key).json()["sessions"] else { return [] }
        return list.compactMap { if case .string(let s)? = $0["id"] { s } else { nil } }
    }

    /// Polls until `condition` holds (a reload is asynchronous to the signal), for at most 10 s.
    static func eventually(_ what: String, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if try condition() { return }
            usleep(20_000)
        }
        Issue.record("timed out waiting for: \(what)")
    }

    @Test func sighupPutsTheNewKeysInForceAndABrokenFileKeepsTheOldOnes() throws {
        let dir = temporaryDirectory("sighup")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let keysPath = dir + "/keys.json"
        try Self.keys.write(to: keysPath)
        let p = try StepdProcess(dataDir: dir + "/data", extra: ["--keys-file", keysPath])
        #expect(try Self.get(p, "/v1/sessions", key: "key-a").status == 200)

        var rotated = Self.keys
        rotated.keys[1].key = "key-a-rotated"
        try rotated.write(to: keysPath)
        kill(p.process.processIdentifier, SIGHUP)
        try Self.eventually("the old key-a is refused") { try Self.get(p, "/v1/sessions", key: "key-a").status == 401 }
        #expect(try Self.get(p, "/v1/sessions", key: "key-a-rotated").status == 200)

        try TestKeysFile.write(Array(#"{"keys": [{"sha256": "00", "tenant": "team-a", "role": "admin"}]}"#.utf8), to: keysPath)
        kill(p.process.processIdentifier, SIGHUP)
        try Self.eventually("the broken file's reload is counted as refused") {
            try Self.get(p, "/metrics", key: "key-admin").text.contains("stepd_keys_reloads_total{result=\"refused\"} 1\n")
        }
        #expect(try Self.get(p, "/v1/sessions", key: "key-a-rotated").status == 200)
        #expect(try Self.get(p, "/v1/sessions", key: "key-a").status == 401)
        #expect(p.process.isRunning)
        _ = p.terminate()
        #expect(p.log.contains("keys: reload refused, the previous keys stay in force"), "\(p.log)")
        #expect(p.log.contains("keys[0].sha256"), "the log names the field")
    }

    @Test func ownersSurviveACrashAndARestart() throws {
        let dir = temporaryDirectory("owners")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let keysPath = dir + "/keys.json"
        try Self.keys.write(to: keysPath)
        let args = ["--keys-file", keysPath]
        let first = try StepdProcess(dataDir: dir + "/data", extra: args)
        #expect(try Self.create(first, "a1", key: "key-a") == 201)
        #expect(try Self.create(first, "b1", key: "key-b") == 201)
        first.crash()

        let second = try StepdProcess(dataDir: dir + "/data", extra: args)
        defer { _ = second.terminate() }
        #expect(try Self.listed(second, key: "key-a") == ["a1"])
        #expect(try Self.listed(second, key: "key-b") == ["b1"])
        #expect(try Self.listed(second, key: "key-admin") == ["a1", "b1"])
        #expect(try Self.get(second, "/v1/sessions/a1", key: "key-b").status == 404)
        #expect(try Self.get(second, "/v1/sessions/a1", key: "key-a").json()["tenant"] == "team-a")
    }

    @Test func theTokenFromTheEnvironmentOrAFileIsAnAdminBesideTheKeysFile() throws {
        let dir = temporaryDirectory("token")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let keysPath = dir + "/keys.json", tokenPath = dir + "/token"
        try Self.keys.write(to: keysPath)
        try Data("file-token\n".utf8).write(to: URL(fileURLWithPath: tokenPath))
        let fromEnv = try StepdProcess(dataDir: "", extra: ["--keys-file", keysPath], environment: ["STEPD_TOKEN": "env-token"])
        defer { _ = fromEnv.terminate() }
        #expect(try Self.create(fromEnv, "a1", key: "key-a") == 201)
        #expect(try Self.listed(fromEnv, key: "env-token") == ["a1"])
        #expect(try Self.get(fromEnv, "/v1/sessions", key: nil).status == 401)
        #expect(try Self.get(fromEnv, "/v1/sessions", key: "file-token").status == 401)

        let fromFile = try StepdProcess(dataDir: "", extra: ["--keys-file", keysPath, "--token-file", tokenPath])
        defer { _ = fromFile.terminate() }
        #expect(try Self.get(fromFile, "/v1/sessions", key: "file-token").status == 200)
        #expect(try Self.get(fromFile, "/metrics", key: "file-token").status == 200)
        #expect(try Self.get(fromFile, "/v1/sessions", key: "key-b").status == 200)
    }

    @Test func aKeysFileThatDoesNotValidateStopsStartUpNamingTheField() throws {
        let dir = temporaryDirectory("badkeys")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let keysPath = dir + "/keys.json"
        try TestKeysFile.write(Array(#"{"keys": [{"sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "tenant": "t", "role": "root"}]}"#.utf8),
                               to: keysPath)
        do {
            _ = try StepdProcess(dataDir: "", extra: ["--keys-file", keysPath])
            Issue.record("stepd started with a bad keys file")
        } catch {
            #expect("\(error)".contains("keys[0].role"), "\(error)")
            #expect("\(error)".contains(keysPath), "\(error)")
        }
    }
}
