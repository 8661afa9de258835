#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed file-system call, with the call, the path and the errno, because "snapshot failed"
/// is useless to an operator whose disk is full while "write /data/sessions/a/...: No space left
/// on device" tells them what to do. `/healthz` and `/metrics` can classify it with `isNoSpace`.
/// The codec's file reads and writes throw it, and so does the snapshot store above it.
public struct FileIOError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The system call or step that failed: "open", "write", "fsync", "rename", ...
    public let operation: String
    public let path: String
    public let code: Int32

    public init(_ operation: String, path: String, code: Int32) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    /// Captures the current `errno`; call right after the failing call.
    public static func current(_ operation: String, path: String) -> FileIOError {
        FileIOError(operation, path: path, code: errno)
    }

    public var reason: String { String(cString: strerror(code)) }

    public var isNoSpace: Bool { code == ENOSPC || code == EDQUOT }

    public var description: String { "\(operation) \(path): \(reason) (errno \(code))" }
}
