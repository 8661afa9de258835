#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import StepCore
import StepTensors

/// The on-disk home of all sessions' snapshots under a data directory:
///
/// ```
/// <data-dir>/sessions/<session-id>/snapshot-<seq:12>-step-<step:12>-<unix-ms:13>.safetensors
/// <data-dir>/sessions/<session-id>/.snapshot-...safetensors.tmp-<hex>   (in-flight or crashed writes)
/// ```
///
/// Order is by `seq`, a per-session counter (one more than the largest on disk), not by step or
/// time: a session's step can go backwards (a checkpoint from an earlier step is PUT) and so
/// can the wall clock, and either would otherwise make pruning delete the newest file. Step and
/// time are in the name so listings need not open files. Zero padding keeps `ls` in order.
///
/// Thread safety: the value holds no mutable state; different sessions may be written, listed
/// and restored in parallel. Writes, prunes and deletion of ONE session must be serialized by
/// the caller (the session's own lock or snapshot queue), since the next `seq` is derived from
/// the directory listing.
public struct SnapshotDirectory: Sendable {
    public let dataDirectory: String
    /// How many snapshots per session survive pruning; at least 1.
    public let keep: Int

    public init(dataDirectory: String, keep: Int = 2) {
        self.dataDirectory = dataDirectory
        self.keep = max(1, keep)
    }

    public var sessionsDirectory: String { "\(dataDirectory)/sessions" }

    /// Session ids become directory names: `SessionID`'s rule (StepCore), the API's own, keeps
    /// them to a portable file-name alphabet without a leading dot (which would hide them, and
    /// allow `..`). Directories under other names are not sessions and are left alone.
    public static func isValidSessionID(_ id: String) -> Bool { SessionID.isValid(id) }

    public func directory(of sessionID: String) throws -> String {
        guard Self.isValidSessionID(sessionID) else {
            throw FileIOError("validate session id (\(SessionID.expectation))", path: sessionID, code: EINVAL)
        }
        return "\(sessionsDirectory)/\(sessionID)"
    }

    // MARK: listing

    /// Ids of all session directories, sorted. A missing data directory means no sessions.
    public func sessionIDs() throws -> [String] {
        try Self.names(in: sessionsDirectory, missingIsEmpty: true)
            .filter { Self.isValidSessionID($0) && Self.isDirectory("\(sessionsDirectory)/\($0)") }
            .sorted()
    }

    /// The session's snapshots, newest first. Temp files and foreign names are ignored.
    public func snapshots(of sessionID: String) throws -> [SnapshotEntry] {
        let dir = try directory(of: sessionID)
        var entries: [SnapshotEntry] = []
        for name in try Self.names(in: dir, missingIsEmpty: true) {
            guard let p = SnapshotEntry.parse(fileName: name) else { continue }
            let path = "\(dir)/\(name)"
            var st = stat()
            guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            entries.append(SnapshotEntry(sessionID: sessionID, path: path, sequence: p.sequence, step: p.step,
                                         unixMillis: p.unixMillis, byteCount: Int(st.st_size)))
        }
        return entries.sorted { $0.sequence > $1.sequence }
    }

    // MARK: writing

    /// What a snapshot write did beyond writing: files pruned, and prune failures, which do
    /// not fail the write (the new snapshot is durable) but belong in the log.
    public struct WriteResult: Sendable {
        public let entry: SnapshotEntry
        public let pruned: [SnapshotEntry]
        public let pruneErrors: [FileIOError]
    }

    /// Writes a new snapshot of `sessionID` at `step` durably (`SnapshotWriter`), then prunes to
    /// the newest `keep`. `body` writes the file's contents from position 0.
    public func write(session sessionID: String, step: Int, unixMillis: Int64 = SnapshotDirectory.now(),
                      _ body: (OutputFile) throws -> Void) throws -> WriteResult {
        try write(session: sessionID, unixMillis: unixMillis) { file in
            try body(file)
            return step
        }
    }

    /// `write(session:step:)` where `body` says which step it wrote (it returns it), for a
    /// writer that learns the step only as it writes (`SessionSnapshot`): the file is named
    /// after it once the contents are complete. With `prune: false` older files are left for the
    /// caller to `prune` later (the new file is durable without that).
    public func write(session sessionID: String, unixMillis: Int64 = SnapshotDirectory.now(), prune: Bool = true,
                      _ body: (OutputFile) throws -> Int) throws -> WriteResult {
        let dir = try directory(of: sessionID)
        try Self.makeDirectory(sessionsDirectory, parent: dataDirectory, createParent: true)
        try Self.makeDirectory(dir, parent: sessionsDirectory, createParent: false)
        let existing = try snapshots(of: sessionID)
        let sequence = (existing.first?.sequence ?? 0) + 1
        var size = 0
        var step = 0
        let path = try SnapshotWriter.write(in: dir, tempPrefix: SnapshotEntry.tempPrefix(sequence: sequence)) { file in
            step = try body(file)
            var st = stat()
            if fstat(file.descriptor, &st) == 0 { size = Int(st.st_size) }
            return SnapshotEntry.fileName(sequence: sequence, step: step, unixMillis: unixMillis)
        }
        let entry = SnapshotEntry(sessionID: sessionID, path: path, sequence: sequence, step: step,
                                  unixMillis: unixMillis, byteCount: size)
        guard prune else { return WriteResult(entry: entry, pruned: [], pruneErrors: []) }
        let (pruned, errors) = self.prune(session: sessionID, keep: keep)
        return WriteResult(entry: entry, pruned: pruned, pruneErrors: errors)
    }

    /// Writes `writer`'s safetensors file as a new snapshot (with its checksum, which the
    /// built-in verification of `newestValid` requires).
    public func write(session sessionID: String, step: Int, _ writer: SafetensorsWriter,
                      unixMillis: Int64 = SnapshotDirectory.now()) throws -> WriteResult {
        try write(session: sessionID, step: step, unixMillis: unixMillis) { file in try writer.write(to: file) }
    }

    /// Deletes all but the newest `keep` snapshots, and temp files left by interrupted writes.
    /// Files are not verified first (that would mean reading them all): called right after a
    /// successful durable write, the newest file is known good, which is what matters.
    public func prune(session sessionID: String, keep: Int) -> (pruned: [SnapshotEntry], errors: [FileIOError]) {
        let dir: String
        let entries: [SnapshotEntry]
        do {
            dir = try directory(of: sessionID)
            entries = try snapshots(of: sessionID)
        } catch let e as FileIOError {
            return ([], [e])
        } catch {
            return ([], [FileIOError("prune", path: sessionID, code: EIO)])
        }
        var pruned: [SnapshotEntry] = []
        var errors: [FileIOError] = []
        for e in entries.dropFirst(max(1, keep)) {
            if unlink(e.path) == 0 { pruned.append(e) } else { errors.append(.current("unlink", path: e.path)) }
        }
        for name in (try? Self.names(in: dir, missingIsEmpty: true)) ?? [] where SnapshotWriter.isTemporaryName(name) {
            if unlink("\(dir)/\(name)") != 0 { errors.append(.current("unlink", path: "\(dir)/\(name)")) }
        }
        if !pruned.isEmpty {
            do { try SnapshotWriter.syncDirectory(dir) } catch { errors.append(error) }
        }
        return (pruned, errors)
    }

    // MARK: restoring

    /// Tries the session's snapshots newest first and returns the first that `load` accepts
    /// (load verifies and builds the value, so a good file is read once); every file it
    /// refused is in `rejected` with the error's description. Never throws for bad files.
    public func newestValid<Value>(session sessionID: String,
                                   load: (SnapshotEntry) throws -> Value) -> SnapshotRestore<Value> {
        let entries: [SnapshotEntry]
        do { entries = try snapshots(of: sessionID) } catch {
            return SnapshotRestore(sessionID: sessionID, entry: nil, value: nil, rejected: [
                SnapshotRejection(sessionID: sessionID, entry: nil, reason: "cannot list snapshots: \(error)"),
            ])
        }
        var rejected: [SnapshotRejection] = []
        for entry in entries {
            do {
                let value = try load(entry)
                return SnapshotRestore(sessionID: sessionID, entry: entry, value: value, rejected: rejected)
            } catch {
                rejected.append(SnapshotRejection(sessionID: sessionID, entry: entry, reason: "\(error)"))
            }
        }
        let why = entries.isEmpty ? "no snapshot files" : "none of its \(entries.count) snapshot files verifies"
        rejected.append(SnapshotRejection(sessionID: sessionID, entry: nil, reason: why))
        return SnapshotRestore(sessionID: sessionID, entry: nil, value: nil, rejected: rejected)
    }

    /// The built-in check: the header parses and validates, and the file's checksum matches.
    /// The returned file is open (memory-mapped), ready to copy tensors from.
    public func newestValid(session sessionID: String) -> SnapshotRestore<SafetensorsFile> {
        newestValid(session: sessionID, load: Self.openVerified)
    }

    public static func openVerified(_ entry: SnapshotEntry) throws -> SafetensorsFile {
        let file = try SafetensorsFile(path: entry.path, access: .mapped)
        try file.verifyChecksum()
        return file
    }

    /// `newestValid` for every session: one result per session directory, the unrestorable
    /// ones included (`isRestored == false`), so a bad session never hides or stops the others.
    public func restoreAll<Value>(load: (SnapshotEntry) throws -> Value) throws -> [SnapshotRestore<Value>] {
        try sessionIDs().map { newestValid(session: $0, load: load) }
    }

    // MARK: deleting

    /// Removes the session's directory and everything in it; returns false if there was none.
    @discardableResult
    public func deleteSession(_ sessionID: String) throws -> Bool {
        let dir = try directory(of: sessionID)
        guard Self.isDirectory(dir) else { return false }
        for name in try Self.names(in: dir, missingIsEmpty: true) {
            let path = "\(dir)/\(name)"
            if unlink(path) != 0 { throw FileIOError.current("unlink", path: path) }
        }
        if rmdir(dir) != 0 { throw FileIOError.current("rmdir", path: dir) }
        try SnapshotWriter.syncDirectory(sessionsDirectory)
        return true
    }

    // MARK: helpers

    public static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Entry names of a directory, without "." and "..".
    static func names(in dir: String, missingIsEmpty: Bool) throws -> [String] {
        guard let d = opendir(dir) else {
            if missingIsEmpty && errno == ENOENT { return [] }
            throw FileIOError.current("open directory", path: dir)
        }
        defer { closedir(d) }
        var out: [String] = []
        while true {
            errno = 0
            guard let ent = readdir(d) else {
                if errno != 0 { throw FileIOError.current("read directory", path: dir) }
                break
            }
            let name = withUnsafeBytes(of: ent.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { out.append(name) }
        }
        return out
    }

    /// mkdir that tolerates an existing directory and makes a new entry durable in its parent.
    static func makeDirectory(_ path: String, parent: String, createParent: Bool) throws {
        if isDirectory(path) { return }
        if createParent && !isDirectory(parent) {
            try makeDirectory(parent, parent: SnapshotWriter.split(parent).dir, createParent: true)
        }
        if mkdir(path, 0o755) != 0 {
            if errno == EEXIST && isDirectory(path) { return }
            throw FileIOError.current("mkdir", path: path)
        }
        try SnapshotWriter.syncDirectory(parent)
    }
}
