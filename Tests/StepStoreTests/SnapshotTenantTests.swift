import Foundation
import StepCore
import StepJSON
import Testing
@testable import StepStore
import StepTensors
import StepTensorsTesting

/// The owning tenant is part of what a snapshot restores: a restart must not hand a session to
/// nobody (or to everybody).
@Suite struct SnapshotTenantTests {
    static func session(_ id: String, tenant: String?) throws -> Session {
        let (config, inits) = try SessionConfig.parse(try JSONParser.parse(
            #"{"optimizer": {"type": "sgd", "lr": 0.1}, "params": [{"name": "w", "shape": [3], "values": [1, 2, 3]}]}"#))
        return Session(id: id, config: config, inits: inits, tenant: tenant, parallel: .serial)
    }

    @Test func aSnapshotRestoresTheSessionsTenant() throws {
        try withTemporaryDirectory { dir in
            let manager = SnapshotManager(directory: SnapshotDirectory(dataDirectory: dir), defaults: .init())
            try manager.created(try Self.session("owned", tenant: "team-a"))
            try manager.created(try Self.session("unowned", tenant: nil))

            let restarted = SnapshotManager(directory: SnapshotDirectory(dataDirectory: dir), defaults: .init())
            let (sessions, _, problems) = restarted.restoreAll(parallel: .serial)
            #expect(problems.isEmpty)
            let tenants = Dictionary(uniqueKeysWithValues: sessions.map { ($0.id, $0.tenant) })
            #expect(tenants == ["owned": "team-a", "unowned": nil])
            let unownedFile = try SafetensorsFile(bytes: readFile(try #require(restarted.list("unowned").first).path))
            #expect(unownedFile.metadata["tenant"] == nil, "no tenant is no key, not an empty one")
        }
    }

    @Test(arguments: ["", "team a", "../b", "t\u{e9}am", String(repeating: "x", count: 65)])
    func aTenantThatCouldNotComeFromAKeysFileIsRefused(tenant: String) throws {
        let bytes = try CheckpointValidationTests.rewrite(try CheckpointValidationTests.checkpoint()) { $0["tenant"] = tenant }
        CheckpointValidationTests.refuses(bytes, mentioning: "__metadata__.tenant")
    }
}
