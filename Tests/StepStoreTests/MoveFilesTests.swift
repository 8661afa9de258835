import Foundation
import StepCore
import StepJSON
import Testing
@testable import StepStore
import StepTensorsTesting

/// What the data directory keeps of moves: a restart restores a frozen session frozen, and
/// remembers where moved-away sessions went, within the retention; nothing it reads back is
/// trusted (a freeze's URL becomes a `Location` header).
@Suite struct MoveFilesTests {
    static let target = MoveTarget("http://10.0.0.9:8080")!

    static func manager(_ dir: String, retention: MovedAway.Retention = .init()) -> SnapshotManager {
        SnapshotManager(directory: SnapshotDirectory(dataDirectory: dir), defaults: .init(), movedRetention: retention)
    }

    @Test func aFrozenSessionIsRestoredFrozenAndACancelledOneThawed() throws {
        try withTemporaryDirectory { dir in
            let m = Self.manager(dir)
            let frozen = try SnapshotTenantTests.session("frozen", tenant: nil)
            let thawed = try SnapshotTenantTests.session("thawed", tenant: nil)
            for s in [frozen, thawed] {
                try m.created(s)
                try s.beginMove(to: Self.target)
                try m.moveChanged(s)
            }
            thawed.cancelMove()
            try m.moveChanged(thawed)
            let (sessions, moved, problems) = Self.manager(dir).restoreAll(parallel: .serial)
            #expect(problems.isEmpty && moved.isEmpty)
            let byID = Dictionary(uniqueKeysWithValues: sessions.map { ($0.id, $0.movingTo) })
            #expect(byID == ["frozen": Self.target, "thawed": nil])
        }
    }

    @Test(arguments: [#"{"to": "http://a\r\nX-Evil: 1"}"#, #"{"to": "ftp://a"}"#, #"{"to": "http://a", "x": 1}"#, "not json", "[]"])
    func aFreezeThatDoesNotReadBackKeepsTheSessionOnDiskUnrestored(content: String) throws {
        try withTemporaryDirectory { dir in
            let m = Self.manager(dir)
            let s = try SnapshotTenantTests.session("s", tenant: nil)
            try m.created(s)
            try writeFile("\(dir)/sessions/s/move.json", Array(content.utf8))
            let (sessions, _, problems) = Self.manager(dir).restoreAll(parallel: .serial)
            #expect(sessions.isEmpty, "a session whose freeze is unreadable must not be restored thawed")
            #expect(problems.contains { $0.contains("session s NOT restored") && $0.contains("move.json") })
            #expect(try SnapshotDirectory(dataDirectory: dir).snapshots(of: "s").count == 1, "its files stay for a human")
        }
    }

    @Test func completingAMoveLeavesARecordThatARestoredSessionOrANewOneReplaces() throws {
        try withTemporaryDirectory { dir in
            let m = Self.manager(dir)
            let s = try SnapshotTenantTests.session("gone", tenant: "team-a")
            try m.created(s)
            m.deleted("gone", movedAway: MovedAway(id: "gone", to: Self.target, tenant: "team-a"))
            let (sessions, moved, problems) = Self.manager(dir).restoreAll(parallel: .serial)
            #expect(sessions.isEmpty && problems.isEmpty)
            #expect(moved.map(\.id) == ["gone"] && moved.first?.tenant == "team-a" && moved.first?.to == Self.target)
            // The id is used again: the new session's snapshot, then the record goes.
            let again = Self.manager(dir)
            _ = again.restoreAll(parallel: .serial)
            try again.created(try SnapshotTenantTests.session("gone", tenant: nil))
            #expect(MoveFiles(directory: SnapshotDirectory(dataDirectory: dir)).movedAway().records.isEmpty)
            // A crash between the two leaves both; the session wins and the record goes.
            try MoveFiles(directory: SnapshotDirectory(dataDirectory: dir)).writeMovedAway(MovedAway(id: "gone", to: Self.target, tenant: nil))
            let (restored, stale, _) = Self.manager(dir).restoreAll(parallel: .serial)
            #expect(restored.map(\.id) == ["gone"] && stale.isEmpty)
            #expect(MoveFiles(directory: SnapshotDirectory(dataDirectory: dir)).movedAway().records.isEmpty)
        }
    }

    @Test func recordsPastTheRetentionAreRemovedFromDisk() throws {
        try withTemporaryDirectory { dir in
            let m = Self.manager(dir, retention: .init(keep: 2, maxAgeMillis: 60_000))
            let now = MovedAway.now()
            for (i, id) in ["a", "b", "c"].enumerated() {
                try m.created(try SnapshotTenantTests.session(id, tenant: nil))
                m.deleted(id, movedAway: MovedAway(id: id, to: Self.target, tenant: nil, unixMillis: now - 3 + Int64(i)))
            }
            let files = MoveFiles(directory: SnapshotDirectory(dataDirectory: dir))
            #expect(Set(files.movedAway().records.map(\.id)) == ["b", "c"], "the oldest beyond keep goes")
            try files.writeMovedAway(MovedAway(id: "ancient", to: Self.target, tenant: nil, unixMillis: now - 120_000))
            let (_, moved, _) = Self.manager(dir, retention: .init(keep: 2, maxAgeMillis: 60_000)).restoreAll(parallel: .serial)
            #expect(Set(moved.map(\.id)) == ["b", "c"])
            #expect(Set(files.movedAway().records.map(\.id)) == ["b", "c"], "the expired file is removed at restore")
        }
    }

    @Test(arguments: [#"{"to": "http://a b", "unix_ms": 1}"#, #"{"to": "http://a", "unix_ms": -1}"#,
                      #"{"to": "http://a", "unix_ms": 1.5}"#, #"{"to": "http://a", "unix_ms": 1, "tenant": "../x"}"#,
                      #"{"to": "http://a"}"#])
    func aMovedAwayRecordThatDoesNotReadBackIsReportedAndIgnored(content: String) throws {
        try withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: "\(dir)/moved", withIntermediateDirectories: true)
            try writeFile("\(dir)/moved/x.json", Array(content.utf8))
            let (records, problems) = MoveFiles(directory: SnapshotDirectory(dataDirectory: dir)).movedAway()
            #expect(records.isEmpty)
            #expect(problems.count == 1 && problems[0].contains("moved/x.json"))
        }
    }
}
