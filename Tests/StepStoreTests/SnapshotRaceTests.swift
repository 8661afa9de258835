import Dispatch
import Foundation
import StepCore
import StepJSON
import StepKernels
import Testing
@testable import StepStore
import StepTensors
import StepTensorsTesting

/// Snapshots are written from the session's live buffers, not from a copy (`SessionSnapshot`):
/// these tests show a snapshot file is always the session at one step, never a mix of two, when
/// steps land while it is being written.
@Suite struct SnapshotRaceTests {
    /// 512K parameters: 2 MiB per buffer, a 6 MiB AdamW file, so a write is 6+ blocks and steps
    /// land between them.
    static let n = 1 << 19

    static func session(_ n: Int = n) throws -> Session {
        let (config, inits) = try SessionConfig.parse([
            "optimizer": ["type": "adamw", "lr": 0.01, "weight_decay": 0.1],
            "params": [["name": "w", "shape": [.number(Double(n))], "init": ["type": "normal", "std": 0.02, "seed": 7]]],
        ])
        return Session(id: "race", config: config, inits: inits, parallel: Parallel(threads: 1, minimumPerThread: 1 << 16))
    }

    static let grads: [Float] = (0..<n).map { Float(($0 % 97) - 48) * 1e-3 }

    static func step(_ s: Session) throws {
        let upload = try s.beginUpload(dtype: .f32)
        try grads.prefix(s.parameterCount).withUnsafeBytes { try upload.write($0) }
        _ = try s.submit(upload)
    }

    /// What identifies the whole state: the step and a CRC-32C of every buffer and the scalars.
    struct Fingerprint: Equatable, CustomStringConvertible {
        var step: Int
        var buffers: [String: UInt32]
        var description: String { "step \(step) \(buffers.sorted { $0.key < $1.key })" }

        init(_ image: SessionImage) {
            step = image.step
            buffers = ["params": CRC32C.checksum(UnsafeRawBufferPointer(image.state.params.buffer))]
            for (role, b) in image.state.roles { buffers[role] = CRC32C.checksum(UnsafeRawBufferPointer(b.buffer)) }
            buffers["scalars"] = CRC32C.checksum(Array(image.state.scalarsJSON(image.config).text.utf8))
        }
    }

    static func load(_ entry: SnapshotEntry) throws -> SessionImage {
        try SessionCheckpoint.image(from: SafetensorsFile(path: entry.path, access: .read), verifyingChecksum: true)
    }

    @Test func snapshotsTakenWhileStepsLandAreEachOneWholeStep() throws {
        try withTemporaryDirectory { dir in
            let s = try Self.session()
            let manager = SnapshotManager(directory: SnapshotDirectory(dataDirectory: dir, keep: 1000), defaults: .init(everySteps: 0, intervalSeconds: 0))
            let stop = LockedFlag()
            let stepped = DispatchSemaphore(value: 0)
            let failure = LockedFlag()
            DispatchQueue.global().async {
                defer { stepped.signal() }
                while !stop.isSet {
                    do { try Self.step(s) } catch { failure.set(); return }
                }
            }
            var entries: [SnapshotEntry] = []
            let deadline = Date().addingTimeInterval(60)
            // Until steps have overtaken a few optimistic snapshots (the race this is about)
            // and a handful of snapshots exist; steps run the whole time.
            while (manager.overtakenSnapshots < 3 || entries.count < 6) && Date() < deadline {
                entries.append(try manager.snapshotNow(s))
            }
            stop.set()
            stepped.wait()
            print("race: \(entries.count) snapshots up to step \(s.step), \(manager.overtakenSnapshots) overtaken")
            #expect(!failure.isSet)
            #expect(manager.overtakenSnapshots >= 3, "steps never overtook a snapshot: the race was not exercised")
            // Every file against a twin that took the same steps without interruption.
            let twin = try Self.session()
            var twinStep = 0
            for entry in entries.sorted(by: { $0.step < $1.step }) {
                let image = try Self.load(entry)
                #expect(image.step == entry.step)
                while twinStep < image.step {
                    try Self.step(twin)
                    twinStep += 1
                }
                #expect(Fingerprint(image) == Fingerprint(twin.capture()), "snapshot \(entry.fileName) is not the session at one step")
            }
        }
    }

    @Test func aStepBetweenTwoBlocksAbandonsTheOptimisticWriteAndChangesNothingOnDisk() throws {
        try withTemporaryDirectory { dir in
            let s = try Self.session(1 << 19)  // 2 MiB per buffer: several blocks
            let store = SnapshotDirectory(dataDirectory: dir)
            let view = try #require(s.snapshot())
            let writer = try SessionCheckpoint.writer(view.image)
            var blocks = 0
            #expect(throws: SessionSnapshot.Changed.self) {
                _ = try store.write(session: s.id) { file in
                    try withExtendedLifetime(view) {
                        _ = try writer.write(to: file, eachBlock: { block in
                            blocks += 1
                            if blocks == 3 { try Self.step(s) }  // between blocks, outside the lock
                            try view.whileUnchanged(block)
                        })
                    }
                    return view.image.step
                }
            }
            #expect(blocks == 3, "the block after the step was not read")
            #expect(try store.snapshots(of: s.id).isEmpty)
            #expect(try directoryNames("\(dir)/sessions/\(s.id)").isEmpty, "the temp file was left behind")
        }
    }

    @Test func anExclusiveSnapshotHoldsStepsOffUntilItsBodyReturns() throws {
        let s = try Self.session(1 << 12)
        let entered = DispatchSemaphore(value: 0)
        let stepped = DispatchSemaphore(value: 0)
        let done = LockedFlag()
        let result: Int? = try s.withExclusiveSnapshot { view throws -> Int in
            DispatchQueue.global().async {
                entered.signal()
                try? Self.step(s)
                done.set()
                stepped.signal()
            }
            entered.wait()
            Thread.sleep(forTimeInterval: 0.2)
            #expect(!done.isSet, "a step landed during an exclusive snapshot")
            let inside = try view.whileUnchanged { 1 }
            #expect(inside == 1)
            return view.image.step
        }
        #expect(result == 0)
        stepped.wait()
        #expect(s.step == 1)
    }

    @Test func aRetiredSessionIsNotSnapshotted() throws {
        let s = try Self.session(16)
        let view = try #require(s.snapshot())
        s.retire()
        #expect(s.snapshot() == nil)
        #expect(s.withExclusiveSnapshot { _ in 1 } == nil)
        #expect(throws: SessionSnapshot.Changed.self) { try view.whileUnchanged {} }
    }

    @Test func theManagerWritesNothingForASessionRetiredBeforeItsSnapshot() throws {
        try withTemporaryDirectory { dir in
            let s = try Self.session(16)
            let manager = SnapshotManager(directory: SnapshotDirectory(dataDirectory: dir), defaults: .init())
            s.retire()
            #expect(throws: SessionError.self) { try manager.snapshotNow(s) }
            #expect(manager.list(s.id).isEmpty)
        }
    }
}

/// Restore reads a snapshot once, checksumming as it loads (`SafetensorsFile.load`): damage
/// anywhere in the file is still reported as damage, and the previous snapshot is used.
@Suite struct OnePassRestoreTests {
    static func damaged(_ edit: (inout [UInt8]) -> Void) throws -> (sessions: [Session], problems: [String]) {
        try withTemporaryDirectory { dir in
            let s = try SnapshotRaceTests.session(1000)
            let manager = SnapshotManager(directory: SnapshotDirectory(dataDirectory: dir, keep: 2), defaults: .init())
            try manager.created(s)
            try SnapshotRaceTests.step(s)
            let newest = try manager.snapshotNow(s)
            var bytes = try readFile(newest.path)
            edit(&bytes)
            try writeFile(newest.path, bytes)
            let (sessions, _, problems) = SnapshotManager(directory: SnapshotDirectory(dataDirectory: dir), defaults: .init()).restoreAll(parallel: .serial)
            return (sessions, problems)
        }
    }

    @Test func aFlippedDataByteIsAChecksumMismatchAndThePreviousSnapshotIsUsed() throws {
        let (sessions, problems) = try Self.damaged { $0[$0.count - 5] ^= 0x10 }
        #expect(sessions.map(\.step) == [0])
        #expect(problems.count == 1 && problems[0].contains("checksum mismatch"), "\(problems)")
    }

    @Test func aDamagedConfigIsReportedAsAChecksumMismatchNotAsABadConfig() throws {
        let (sessions, problems) = try Self.damaged { bytes in
            let needle = Array("adamw".utf8)
            let at = (0..<(bytes.count - needle.count)).first { Array(bytes[$0..<($0 + needle.count)]) == needle }!
            bytes[at + 4] = UInt8(ascii: "x")
        }
        #expect(sessions.map(\.step) == [0])
        #expect(problems.count == 1 && problems[0].contains("checksum mismatch"), "\(problems)")
    }

    @Test func aTruncatedFileIsRefused() throws {
        let (sessions, problems) = try Self.damaged { $0.removeLast(100) }
        #expect(sessions.map(\.step) == [0])
        #expect(problems.count == 1, "\(problems)")
    }
}

/// A flag two threads share.
final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
