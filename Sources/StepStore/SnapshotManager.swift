import Dispatch
import Foundation
import StepCore
import StepKernels
import StepTensors

/// Decides when sessions are written to disk and writes them: every N steps and/or every T
/// seconds (server defaults, overridable per session), on demand, and for every changed
/// session at shutdown. Writes of one session go through its own serial queue, so they never
/// overlap and never stall other sessions.
///
/// A snapshot is written straight from the session's live buffers, never from a copy, so it
/// costs no memory beyond one block (`SafetensorsWriter.chunk`), and the file is always one
/// consistent version of the session:
/// 1. Optimistically, block by block, each block read under the session lock only if the session
///    is still at the version the header describes (`SessionSnapshot.whileUnchanged`). Steps and
///    reads go on between blocks. If anything changed the session meanwhile, the partial temp
///    file is thrown away (it was never renamed over anything) and:
/// 2. Exclusively: the session lock is held from taking the header to the last byte written
///    (into the page cache), so a step waits for that much, but not for the fsync, the rename or
///    the directory's fsync, which follow with the lock released. This one always completes.
/// With `every_steps: 1` the step's request waits until the snapshot is durable either way.
public final class SnapshotManager: @unchecked Sendable {
    public struct Policy: Sendable {
        public var everySteps: Int
        public var intervalSeconds: Double
        public init(everySteps: Int = 0, intervalSeconds: Double = 30) {
            self.everySteps = everySteps
            self.intervalSeconds = intervalSeconds
        }
    }

    /// Why a snapshot could not be written; the session in memory is unaffected. `reason` is
    /// for clients and names no path (the data directory's layout is the operator's business);
    /// the full error, paths included, goes to the log.
    public struct Failure: Error, CustomStringConvertible {
        public let sessionID: String
        public let step: Int
        public let reason: String
        public var description: String { "snapshot of session \(sessionID) at step \(step) failed: \(reason)" }
    }

    private final class Track: @unchecked Sendable {
        let queue: DispatchQueue
        var writtenVersion: UInt64?
        var writtenStep = 0
        var writtenAt = Date()
        var queued = false
        var deleted = false
        init(id: String) { queue = DispatchQueue(label: "stepd.snapshot.\(id)") }
    }

    public let directory: SnapshotDirectory
    public let defaults: Policy
    /// Freezes and moved-away records (`MoveFiles`), kept within `movedRetention`.
    public let moves: MoveFiles
    public let movedRetention: MovedAway.Retention
    private let log: @Sendable (String) -> Void
    private let lock = NSLock()
    private var tracks: [String: Track] = [:]
    /// The moved-away records on disk, so expiring them needs no listing of the directory.
    private var movedOnDisk: [String: MovedAway] = [:]
    private var lastProblem: String?
    private var timer: DispatchSourceTimer?

    public init(directory: SnapshotDirectory, defaults: Policy, movedRetention: MovedAway.Retention = .init(),
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.directory = directory
        self.defaults = defaults
        moves = MoveFiles(directory: directory)
        self.movedRetention = movedRetention
        self.log = log
    }

    /// Optimistic snapshots abandoned because the session changed while they were written
    /// (each was then written exclusively). For tests and the curious.
    public var overtakenSnapshots: Int { lock.withLock { overtaken } }
    private var overtaken = 0

    /// A full or unwritable disk, as last seen (for the log and metrics; it names the session
    /// and step); nil once a write succeeds again.
    public var storageProblem: String? { lock.withLock { lastProblem } }

    private func track(_ id: String) -> Track {
        lock.withLock {
            if let t = tracks[id] { return t }
            let t = Track(id: id)
            tracks[id] = t
            return t
        }
    }

    private func policy(_ s: Session) -> Policy {
        let p = s.config.snapshot
        return Policy(everySteps: p.everySteps ?? defaults.everySteps, intervalSeconds: p.intervalSeconds ?? defaults.intervalSeconds)
    }

    // MARK: Restore

    /// Every session under the data directory from its newest snapshot that verifies, frozen
    /// again if it was being moved, and the sessions moved away within `movedRetention`. Files
    /// that fail are reported with the reason; a session whose files are all bad (or whose
    /// freeze does not read back) is reported and left on disk for a human, and does not stop
    /// the others. A session restored under an id that also has a moved-away record wins, and
    /// the record goes: the server died between writing the record and deleting the session
    /// (a DELETE no client heard answered), or between creating the session anew and removing
    /// the record.
    public func restoreAll(parallel: Parallel) -> (sessions: [Session], movedAway: [MovedAway], problems: [String]) {
        let (sessions, problems) = restoreSessions(parallel: parallel)
        let (movedAway, movedProblems) = restoreMovedAway(besides: Set(sessions.map(\.id)))
        return (sessions, movedAway, problems + movedProblems)
    }

    private func restoreMovedAway(besides restored: Set<String>) -> ([MovedAway], [String]) {
        var (records, problems) = moves.movedAway()
        let expired = Set(movedRetention.expired(records, now: MovedAway.now()))
        for r in records where restored.contains(r.id) || expired.contains(r.id) {
            do { try moves.removeMovedAway(r.id) } catch { problems.append("removing moved-away record of \(r.id): \(error)") }
        }
        records.removeAll { restored.contains($0.id) || expired.contains($0.id) }
        lock.withLock { for r in records { movedOnDisk[r.id] = r } }
        return (records, problems)
    }

    private func restoreSessions(parallel: Parallel) -> (sessions: [Session], problems: [String]) {
        var sessions: [Session] = []
        var problems: [String] = []
        let restores: [SnapshotRestore<SessionImage>]
        do {
            restores = try directory.restoreAll { entry in
                // One pass over the file: read into the new buffers, checksummed on the way.
                try SessionCheckpoint.image(from: try SafetensorsFile(path: entry.path, access: .read), id: entry.sessionID,
                                            verifyingChecksum: true)
            }
        } catch {
            return ([], ["cannot list \(directory.sessionsDirectory): \(error)"])
        }
        for r in restores {
            for rejected in r.rejected { problems.append(rejected.description) }
            guard let image = r.value else {
                problems.append("session \(r.sessionID) NOT restored: no snapshot of it verifies (files kept in \(directory.sessionsDirectory)/\(r.sessionID))")
                continue
            }
            do {
                let s = try Session(restoring: image, parallel: parallel)
                if let target = try moves.freeze(of: s.id) { try s.beginMove(to: target) }
                let t = track(s.id)
                t.writtenVersion = s.version
                t.writtenStep = s.step
                sessions.append(s)
            } catch {
                problems.append("session \(r.sessionID) NOT restored: \(error)")
            }
        }
        return (sessions, problems)
    }

    // MARK: Events

    /// A new or replaced session: written before the client hears back, so a restart keeps it.
    /// A moved-away record of its id goes after the write (a crash between them leaves both,
    /// and the session wins at restore).
    public func created(_ s: Session) throws {
        let t = track(s.id)
        _ = try t.queue.sync { try write(s, t) }
        guard lock.withLock({ movedOnDisk.removeValue(forKey: s.id) }) != nil else { return }
        do { try moves.removeMovedAway(s.id) } catch { log("removing the moved-away record of \(s.id) failed: \(error)") }
    }

    /// After `Session.beginMove` or `cancelMove`: the freeze (or its end) is durable before the
    /// client hears back, so a restart mid-move neither thaws a session whose copy may already
    /// serve elsewhere nor refreezes one whose move was cancelled. Writes on the session's
    /// queue whatever `s.movingTo` is when it runs, so racing requests end with the last state.
    public func moveChanged(_ s: Session) throws {
        let t = track(s.id)
        try t.queue.sync {
            guard !lock.withLock({ t.deleted }) else { return }
            do {
                if let target = s.movingTo { try moves.writeFreeze(s.id, to: target) } else { try moves.removeFreeze(s.id) }
            } catch {
                log("recording the move of session \(s.id) failed: \(error)")
                let reason = (error as? FileIOError).map { "\($0.operation) failed: \($0.reason) (errno \($0.code))" } ?? "\(error)"
                throw Failure(sessionID: s.id, step: s.step, reason: reason)
            }
        }
    }

    /// After a step, PUT params or PATCH. Synchronous with `every_steps: 1`, else queued.
    public func changed(_ s: Session) throws {
        let p = policy(s)
        let t = track(s.id)
        let (dirty, sinceStep) = lock.withLock { (t.writtenVersion != s.version, s.step - t.writtenStep) }
        guard dirty, p.everySteps > 0 else { return }
        if p.everySteps == 1 {
            _ = try t.queue.sync { try write(s, t) }
        } else if sinceStep >= p.everySteps || sinceStep < 0 {
            enqueue(s, t)
        }
    }

    /// A deleted session's files go; a session deleted while frozen for a move (the move is
    /// complete) leaves its moved-away record first, so no crash in between forgets where it went.
    public func deleted(_ id: String, movedAway record: MovedAway? = nil) {
        let t = track(id)
        lock.withLock {
            t.deleted = true
            tracks[id] = nil
        }
        t.queue.sync {
            if let record { recordMovedAway(record) }
            do { _ = try directory.deleteSession(id) } catch { log("deleting snapshots of \(id) failed: \(error)") }
        }
    }

    private func recordMovedAway(_ record: MovedAway) {
        do { try moves.writeMovedAway(record) } catch {
            log("recording that session \(record.id) moved to \(record.to.base) failed: \(error)")
            return
        }
        let expired = lock.withLock { () -> [String] in
            movedOnDisk[record.id] = record
            let ids = movedRetention.expired(movedOnDisk.values, now: MovedAway.now())
            for id in ids { movedOnDisk[id] = nil }
            return ids
        }
        for id in expired {
            do { try moves.removeMovedAway(id) } catch { log("removing the expired moved-away record of \(id) failed: \(error)") }
        }
    }

    /// `POST /v1/sessions/{id}/snapshots`.
    @discardableResult
    public func snapshotNow(_ s: Session) throws -> SnapshotEntry {
        let t = track(s.id)
        guard let entry = try t.queue.sync(execute: { try write(s, t) }) else { throw SessionError.retired(id: s.id) }
        return entry
    }

    /// The session's snapshots on disk, newest first, once writes and prunes queued before have
    /// run.
    public func list(_ id: String) -> [SnapshotEntry] {
        lock.withLock { tracks[id] }?.queue.sync {}
        return (try? directory.snapshots(of: id)) ?? []
    }

    // MARK: Time and shutdown

    /// Starts the interval check over `sessions()` (the registry's current list).
    public func start(sessions: @escaping @Sendable () -> [Session]) {
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "stepd.snapshot.timer"))
        timer.schedule(deadline: .now() + 1, repeating: 1)
        timer.setEventHandler { [weak self] in
            guard let self else { return }
            let now = Date()
            for s in sessions() {
                let p = self.policy(s)
                guard p.intervalSeconds > 0 else { continue }
                let t = self.track(s.id)
                let due = self.lock.withLock { t.writtenVersion != s.version && now.timeIntervalSince(t.writtenAt) >= p.intervalSeconds }
                if due { self.enqueue(s, t) }
            }
        }
        timer.resume()
        lock.withLock { self.timer = timer }
    }

    /// Writes every session that changed since its last snapshot, then returns. For SIGTERM.
    public func shutdown(sessions: [Session]) {
        lock.withLock { timer?.cancel() }
        for s in sessions {
            let t = track(s.id)
            t.queue.sync {
                guard lock.withLock({ t.writtenVersion != s.version }) else { return }
                _ = try? write(s, t)  // a failure is logged
            }
        }
    }

    // MARK: Writing

    private func enqueue(_ s: Session, _ t: Track) {
        let already = lock.withLock { () -> Bool in
            defer { t.queued = true }
            return t.queued
        }
        guard !already else { return }
        t.queue.async { [self] in
            lock.withLock { t.queued = false }
            _ = try? write(s, t)  // a failure is logged and shown by storageProblem
        }
    }

    /// Runs on the session's queue. Returns nil, writing nothing, for a session that was deleted
    /// or replaced: its last change raced the DELETE, and writing it would bring it back.
    @discardableResult
    private func write(_ s: Session, _ t: Track) throws -> SnapshotEntry? {
        guard !lock.withLock({ t.deleted }) else { return nil }
        var step = s.step
        do {
            let written: Written
            do {
                guard let w = try write(s, exclusive: false, step: &step) else { return nil }
                written = w
            } catch is SessionSnapshot.Changed {
                lock.withLock { overtaken += 1 }
                guard let w = try write(s, exclusive: true, step: &step) else { return nil }
                written = w
            }
            // Older files go after this write has been answered: the new file is durable
            // already, and deleting a large file takes a while (freeing its blocks). The queue
            // is the session's, so the next write, a listing or a DELETE comes after it.
            t.queue.async { [directory, log] in
                for e in directory.prune(session: s.id, keep: directory.keep).errors { log("pruning old snapshots of \(s.id): \(e)") }
            }
            lock.withLock {
                t.writtenVersion = written.version
                t.writtenStep = written.result.entry.step
                t.writtenAt = Date()
                lastProblem = nil
            }
            return written.result.entry
        } catch {
            log("snapshot of session \(s.id) at step \(step) failed: \(error)")
            let reason = (error as? FileIOError).map { "\($0.operation) failed: \($0.reason) (errno \($0.code))" }
                ?? "the snapshot could not be written (see the server log)"
            let failure = Failure(sessionID: s.id, step: step, reason: reason)
            lock.withLock { lastProblem = failure.description }
            throw failure
        }
    }

    private struct Written {
        let result: SnapshotDirectory.WriteResult
        let version: UInt64
    }

    /// Thrown inside a write to abandon it (and its temp file) for a retired session.
    private struct Retired: Error {}

    /// One attempt: optimistic (throws `SessionSnapshot.Changed` if the session moved on while
    /// it wrote) or exclusive. nil for a retired session. `step` is set to the step written.
    private func write(_ s: Session, exclusive: Bool, step: inout Int) throws -> Written? {
        var version: UInt64 = 0
        var stepWritten = step
        defer { step = stepWritten }
        func stream(_ view: SessionSnapshot, to file: OutputFile, guarded: Bool) throws -> Int {
            version = view.image.version
            stepWritten = view.image.step
            let writer = try SessionCheckpoint.writer(view.image)
            try withExtendedLifetime(view) {
                if guarded {
                    _ = try writer.write(to: file, eachBlock: { block in try view.whileUnchanged(block) })
                } else {
                    _ = try writer.write(to: file)
                }
            }
            return view.image.step
        }
        do {
            let result = try directory.write(session: s.id, prune: false) { file in
                if exclusive {
                    guard let step = try s.withExclusiveSnapshot({ view in try stream(view, to: file, guarded: false) }) else { throw Retired() }
                    return step
                }
                guard let view = s.snapshot() else { throw Retired() }
                return try stream(view, to: file, guarded: true)
            }
            return Written(result: result, version: version)
        } catch is Retired {
            return nil
        }
    }
}
