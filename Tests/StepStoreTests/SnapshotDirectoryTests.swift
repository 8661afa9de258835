import Foundation
import Testing
@testable import StepStore
#if canImport(Glibc)
import Glibc
#endif
import StepTensors
import StepTensorsTesting

@Suite struct SnapshotDirectoryTests {
    /// Writes a snapshot whose tensor "w" is filled with `step`, so tests can tell which one
    /// a restore picked.
    @discardableResult
    func snapshot(_ store: SnapshotDirectory, _ session: String, step: Int, ms: Int64 = 1_700_000_000_000) throws
        -> SnapshotDirectory.WriteResult
    {
        try withWriter([("w", .f32, [4], floatBytes(Array(repeating: Float(step), count: 4)))],
                       metadata: ["step": String(step)]) { writer in
            try store.write(session: session, step: step, writer, unixMillis: ms)
        }
    }

    func restoredStep(_ r: SnapshotRestore<SafetensorsFile>) throws -> Float? {
        try r.value?.floats("w").first
    }

    @Test func layoutNamesFilesBySequenceStepAndTime() throws {
        try withTemporaryDirectory { dir in
            let store = SnapshotDirectory(dataDirectory: "\(dir)/data")
            let r = try snapshot(store, "s1", step: 42, ms: 1_700_000_000_123)
            #expect(r.entry.path == "\(dir)/data/sessions/s1/snapshot-000000000001-step-000000000042-1700000000123.safetensors")
            #expect(r.entry.byteCount == (try readFile(r.entry.path)).count)
            #expect(try store.snapshots(of: "s1") == [r.entry])
        }
    }

    @Test func pruningKeepsTheNewestK() throws {
        try withTemporaryDirectory { dir in
            let store = SnapshotDirectory(dataDirectory: dir, keep: 2)
            for step in 1...5 {
                let r = try snapshot(store, "s", step: step * 10)
                #expect(r.pruneErrors.isEmpty)
                #expect(r.pruned.count == (step > 2 ? 1 : 0))
            }
            let list = try store.snapshots(of: "s")
            #expect(list.map(\.sequence) == [5, 4])
            #expect(list.map(\.step) == [50, 40])
            #expect(try directoryNames("\(dir)/sessions/s").count == 2)
            let three = SnapshotDirectory(dataDirectory: dir, keep: 3)
            try snapshot(three, "s", step: 60)
            #expect(try three.snapshots(of: "s").map(\.step) == [60, 50, 40])
        }
    }

    @Test func newestIsBySequenceEvenWhenTheStepGoesBack() throws {
        try withTemporaryDirectory { dir in
            let store = SnapshotDirectory(dataDirectory: dir, keep: 2)
            try snapshot(store, "s", step: 100)
            try snapshot(store, "s", step: 5, ms: 1)   // e.g. an older checkpoint was PUT; clock went back
            #expect(try store.snapshots(of: "s").map(\.step) == [5, 100])
            #expect(try restoredStep(store.newestValid(session: "s")) == 5)
            try snapshot(store, "s", step: 6)
            #expect(try store.snapshots(of: "s").map(\.step) == [6, 5])
        }
    }

    @Test func pruningRemovesTempFilesLeftByACrash() throws {
        try withTemporaryDirectory { dir in
            let store = SnapshotDirectory(dataDirectory: dir)
            try snapshot(store, "s", step: 1)
            let leftover = "\(dir)/sessions/s/.snapshot-000000000002-step-000000000002-0000000000000.safetensors.tmp-abc"
            try writeFile(leftover, [1, 2])
            #expect(try store.snapshots(of: "s").count == 1, "temp files are not snapshots")
            try snapshot(store, "s", step: 2)
            #expect(!FileManager.default.fileExists(atPath: leftover))
        }
    }

    enum Damage: String, CaseIterable { case truncated, flippedByte, garbage, empty }

    func damage(_ path: String, _ how: Damage) throws {
        var bytes = try readFile(path)
        switch how {
        case .truncated: bytes = Array(bytes.prefix(bytes.count - 7))
        case .flippedByte: bytes[bytes.count - 3] ^= 0x10
        case .garbage: bytes = (0..<bytes.count).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }
        case .empty: bytes = []
        }
        try writeFile(path, bytes)
    }

    @Test(arguments: Damage.allCases)
    func restoreFallsBackToThePreviousSnapshotWhenTheNewestIsDamaged(_ how: Damage) throws {
        try withTemporaryDirectory { dir in
            let store = SnapshotDirectory(dataDirectory: dir, keep: 3)
            try snapshot(store, "s", step: 1)
            try snapshot(store, "s", step: 2)
            let newest = try snapshot(store, "s", step: 3).entry
            try damage(newest.path, how)
            let r = store.newestValid(session: "s")
            #expect(r.isRestored)
            #expect(r.entry?.step == 2)
            #expect(try restoredStep(r) == 2)
            #expect(r.rejected.count == 1)
            #expect(r.rejected.first?.entry?.path == newest.path)
            #expect(r.rejected.first?.description.contains(newest.path) == true)
        }
    }

    @Test func rejectionReasonsSayWhatIsWrong() throws {
        try withTemporaryDirectory { dir in
            let store = SnapshotDirectory(dataDirectory: dir, keep: 3)
            try snapshot(store, "s", step: 1)
            let a = try snapshot(store, "s", step: 2).entry
            let b = try snapshot(store, "s", step: 3).entry
            try damage(a.path, .flippedByte)
            try damage(b.path, .truncated)
            let r = store.newestValid(session: "s")
            #expect(r.entry?.step == 1)
            #expect(r.rejected.map(\.entry?.path) == [b.path, a.path])
            #expect(r.rejected[0].reason.contains("data buffer"))
            #expect(r.rejected[1].reason.contains("checksum mismatch"))
        }
    }

    @Test func sessionWhoseFilesAreAllBadIsReportedAndDoesNotStopOthers() throws {
        try withTemporaryDirectory { dir in
            let store = SnapshotDirectory(dataDirectory: dir, keep: 2)
            try snapshot(store, "a", step: 1)
            let b1 = try snapshot(store, "b", step: 1).entry
            let b2 = try snapshot(store, "b", step: 2).entry
            try snapshot(store, "c", step: 7)
            try damage(b1.path, .garbage)
            try damage(b2.path, .flippedByte)
            try FileManager.default.createDirectory(atPath: "\(dir)/sessions/d", withIntermediateDirectories: false)

            let all = try store.restoreAll(load: SnapshotDirectory.openVerified)
            #expect(all.map(\.sessionID) == ["a", "b", "c", "d"])
            #expect(all.filter(\.isRestored).map(\.sessionID) == ["a", "c"])
            let b = all[1]
            #expect(b.value == nil && b.entry == nil)
            #expect(b.rejected.compactMap(\.entry?.path) == [b2.path, b1.path])
            #expect(b.rejected.last?.reason.contains("none of its 2 snapshot files verifies") == true)
            #expect(all[3].rejected.map(\.reason) == ["no snapshot files"])
            #expect(try restoredStep(all[2]) == 7)
        }
    }

    @Test func customLoaderDecidesValidity() throws {
        try withTemporaryDirectory { dir in
            let store = SnapshotDirectory(dataDirectory: dir, keep: 3)
            try snapshot(store, "s", step: 1)
            try snapshot(store, "s", step: 2)
            struct TooNew: Error {}
            let r = store.newestValid(session: "s") { entry -> Int in
                if entry.step > 1 { throw TooNew() }
                return entry.step
            }
            #expect(r.value == 1)
            #expect(r.rejected.count == 1)
        }
    }

    @Test func listsSessionsAndDeletesOne() throws {
        try withTemporaryDirectory { dir in
            let store = SnapshotDirectory(dataDirectory: dir)
            #expect(try store.sessionIDs() == [], "a missing data dir has no sessions")
            try snapshot(store, "b", step: 1)
            try snapshot(store, "a", step: 1)
            try writeFile("\(dir)/sessions/stray-file", [1])
            #expect(try store.sessionIDs() == ["a", "b"])
            #expect(try store.deleteSession("a"))
            #expect(try store.sessionIDs() == ["b"])
            #expect(try store.deleteSession("a") == false)
            #expect(try store.snapshots(of: "a") == [])
        }
    }

    @Test func sessionIDsThatAreNotSafeFileNamesAreRefused() throws {
        // The API's rule (SessionID), so a directory the server could not have made is no session.
        for id in ["", "..", ".hidden", "a/b", "a b", String(repeating: "x", count: 65)] {
            #expect(!SnapshotDirectory.isValidSessionID(id), "\(id)")
        }
        for id in ["a", "sess_01H-x.y", "550e8400-e29b-41d4-a716-446655440000", String(repeating: "x", count: 64)] {
            #expect(SnapshotDirectory.isValidSessionID(id))
        }
        try withTemporaryDirectory { dir in
            let store = SnapshotDirectory(dataDirectory: dir)
            #expect(throws: FileIOError.self) { try store.write(session: "../escape", step: 1) { _ in } }
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/escape"))
        }
    }

    @Test func snapshotFileNamesParseBack() {
        let name = SnapshotEntry.fileName(sequence: 3, step: 1_000_000, unixMillis: 1_700_000_000_000)
        #expect(name == "snapshot-000000000003-step-000001000000-1700000000000.safetensors")
        let p = SnapshotEntry.parse(fileName: name)
        #expect(p?.sequence == 3 && p?.step == 1_000_000 && p?.unixMillis == 1_700_000_000_000)
        #expect(SnapshotEntry.parse(fileName: "snapshot-1-step-x-3.safetensors") == nil)
        #expect(SnapshotEntry.parse(fileName: "snapshot-1-2-3.safetensors") == nil)
        #expect(SnapshotEntry.parse(fileName: "other.safetensors") == nil)
    }
}

