#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import StepCore
import StepJSON
import StepTensors

/// The data directory's record of moves, beside the snapshots, so a restart answers a moving
/// or moved session exactly as before it:
///
/// ```
/// <data-dir>/sessions/<id>/move.json   {"to": URL}: the session is frozen for a move
/// <data-dir>/moved/<id>.json           MovedAway.json: the session left for that server
/// ```
///
/// A freeze lives in the session's own directory, so deleting the session (completing the
/// move) removes it with the snapshots. Both files are written whole (temp file, fsync, rename,
/// fsync of the directory) and are small; they are never pruned with the snapshots (their names
/// are not snapshot names).
public struct MoveFiles: Sendable {
    public let directory: SnapshotDirectory

    public init(directory: SnapshotDirectory) { self.directory = directory }

    static let freezeName = "move.json"
    var movedDirectory: String { "\(directory.dataDirectory)/moved" }

    private func movedPath(_ id: String) throws -> String {
        guard SessionID.isValid(id) else { throw FileIOError("validate session id (\(SessionID.expectation))", path: id, code: EINVAL) }
        return "\(movedDirectory)/\(id).json"
    }

    // MARK: freezes

    /// Makes the freeze of a session durable; its directory exists once it has a snapshot,
    /// which every session has from its creation on.
    public func writeFreeze(_ id: String, to target: MoveTarget) throws {
        let dir = try directory.directory(of: id)
        try SnapshotDirectory.makeDirectory(directory.sessionsDirectory, parent: directory.dataDirectory, createParent: true)
        try SnapshotDirectory.makeDirectory(dir, parent: directory.sessionsDirectory, createParent: false)
        let json: JSONValue = ["to": .string(target.base)]
        try SnapshotWriter.write(to: "\(dir)/\(Self.freezeName)") { file in try file.write(Array(json.text.utf8)) }
    }

    public func removeFreeze(_ id: String) throws {
        try Self.remove("\(try directory.directory(of: id))/\(Self.freezeName)")
    }

    /// Where the session is being moved, or nil if it is not frozen. A file that cannot be
    /// read or says something else throws: the caller must not guess (thawing a session whose
    /// copy may already be serving elsewhere would let two servers take its steps).
    public func freeze(of id: String) throws -> MoveTarget? {
        guard let json = try Self.readJSON("\(try directory.directory(of: id))/\(Self.freezeName)") else { return nil }
        guard case .object(let o) = json, o.keys == ["to"], case .string(let text)? = o["to"], let target = MoveTarget(text) else {
            throw JSONFieldError(field: "\(Self.freezeName).to", "expected {\"to\": \(MoveTarget.expectation)}, got \(json.preview)")
        }
        return target
    }

    // MARK: moved away

    public func writeMovedAway(_ record: MovedAway) throws {
        let path = try movedPath(record.id)
        try SnapshotDirectory.makeDirectory(movedDirectory, parent: directory.dataDirectory, createParent: true)
        try SnapshotWriter.write(to: path) { file in try file.write(Array(record.json.text.utf8)) }
    }

    public func removeMovedAway(_ id: String) throws { try Self.remove(try movedPath(id)) }

    /// Every moved-away record on disk; files that do not read back are reported and skipped
    /// (the worst they cost is a 404 where a 409 with `Location` was due).
    public func movedAway() -> (records: [MovedAway], problems: [String]) {
        let names: [String]
        do { names = try SnapshotDirectory.names(in: movedDirectory, missingIsEmpty: true) } catch {
            return ([], ["cannot list \(movedDirectory): \(error)"])
        }
        var records: [MovedAway] = []
        var problems: [String] = []
        for name in names.sorted() where name.hasSuffix(".json") && !SnapshotWriter.isTemporaryName(name) {
            let id = String(name.dropLast(5))
            guard SessionID.isValid(id) else { continue }
            do {
                guard let json = try Self.readJSON("\(movedDirectory)/\(name)") else { continue }
                records.append(try MovedAway(id: id, json: json))
            } catch {
                problems.append("moved-away record \(movedDirectory)/\(name) ignored: \(error)")
            }
        }
        return (records, problems)
    }

    // MARK: files

    /// unlink that tolerates a missing file and makes the removal durable.
    static func remove(_ path: String) throws {
        if unlink(path) != 0 {
            if errno == ENOENT { return }
            throw FileIOError.current("unlink", path: path)
        }
        try SnapshotWriter.syncDirectory(SnapshotWriter.split(path).dir)
    }

    /// A small JSON file's contents, or nil if there is none.
    static func readJSON(_ path: String) throws -> JSONValue? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw FileIOError.current("open", path: path)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileIOError.current("read", path: path)
            }
            if n == 0 { break }
            bytes += chunk[..<n]
            guard bytes.count <= 1 << 16 else { throw FileIOError("read (larger than 64 KiB)", path: path, code: EFBIG) }
        }
        do { return try JSONParser.parse(bytes) } catch {
            throw JSONFieldError(field: SnapshotWriter.split(path).name, "is not JSON: \(error)")
        }
    }
}
