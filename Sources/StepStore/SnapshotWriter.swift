#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import StepTensors

/// Replaces a file so that, whatever happens (crash, power loss, full disk), the path holds
/// either the complete old contents or the complete new ones, and once `write` returns the new
/// contents survive a crash.
///
/// Steps: create `<dir>/.<name>.tmp-<random>` (same directory, so the rename cannot cross file
/// systems), let `body` write it, fsync it, rename it over `<dir>/<name>`, fsync the directory
/// (without that, the rename itself may be lost on power failure). If anything before the
/// rename fails, the temp file is removed and the old file is untouched; the error is the
/// `FileIOError` of the failing call (or whatever `body` threw). If only the final directory
/// fsync fails, the new file is in place but not known to be durable, and that is reported as
/// an error too, so a caller never acknowledges something that might not survive.
public enum SnapshotWriter {
    /// The prefix that marks temp files: listings skip them and pruning removes leftovers.
    public static func isTemporaryName(_ name: String) -> Bool {
        name.hasPrefix(".") && name.contains(".tmp-")
    }

    public static func write(to path: String, permissions: mode_t = 0o644,
                             _ body: (OutputFile) throws -> Void) throws {
        let (dir, name) = split(path)
        try write(in: dir, tempPrefix: name, permissions: permissions) { file in
            try body(file)
            return name
        }
    }

    /// `write(to:)` for a file whose name is known only once its contents are: `body` writes
    /// the temp file `<dir>/.<tempPrefix>.tmp-<random>` and returns the name to rename it to
    /// in `dir` (a snapshot's name carries the step, and the step is the one `body` wrote).
    /// Returns the final path.
    @discardableResult
    public static func write(in dir: String, tempPrefix: String, permissions: mode_t = 0o644,
                             _ body: (OutputFile) throws -> String) throws -> String {
        let tmp = "\(dir)/.\(tempPrefix).tmp-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, permissions)
        guard fd >= 0 else { throw FileIOError.current("create", path: tmp) }
        let file = OutputFile(descriptor: fd, path: tmp, writeBehind: writeBehind)
        let name: String
        do {
            name = try body(file)
            try file.sync()
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
        let path = "\(dir)/\(name)"
        if close(fd) != 0 {
            // NFS and some FUSE file systems report deferred write errors only here.
            let e = FileIOError.current("close", path: tmp)
            unlink(tmp)
            throw e
        }
        if rename(tmp, path) != 0 {
            let e = FileIOError.current("rename", path: "\(tmp) -> \(path)")
            unlink(tmp)
            throw e
        }
        try syncDirectory(dir)
        return path
    }

    /// Write-behind window for the temp file (`OutputFile.writeBehind`): writeback starts every
    /// 8 MiB, so a large snapshot never holds more than that in dirty pages waiting for one big
    /// final fsync (which would count against a container's memory limit and stall other I/O),
    /// and the device works while the rest is written, as Redis's incremental fsync does. On
    /// this machine's virtual disk its effect on the time of a 600 MB write + fsync was within
    /// the noise (medians 0.50-0.62 s for windows of 4, 8, 32 MiB and none).
    public static let writeBehind = 8 << 20

    /// Makes a directory's entries (a rename, a new or removed file) durable.
    public static func syncDirectory(_ dir: String) throws(FileIOError) {
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { throw .current("open directory", path: dir) }
        defer { close(dfd) }
        while fsync(dfd) != 0 {
            if errno == EINTR { continue }
            // Some file systems cannot fsync a directory; there is nothing more to make durable.
            if errno == EINVAL || errno == ENOTSUP { return }
            throw .current("fsync directory", path: dir)
        }
    }

    static func split(_ path: String) -> (dir: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let dir = String(path[..<slash])
        return (dir.isEmpty ? "/" : dir, String(path[path.index(after: slash)...]))
    }
}
