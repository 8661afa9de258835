import CStepIntrinsics
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open, writable file descriptor together with its path, so every write error can name the
/// file it failed on. Snapshot and checkpoint writers write through it; it does not own the
/// descriptor (whoever opened it closes it). Used by one thread at a time.
public struct OutputFile: Sendable {
    public let descriptor: Int32
    public let path: String
    /// 0, or the window of write-behind: once that many bytes have been written by `write(_:)`
    /// since the last window, their writeback to the device is started without waiting
    /// (`stepd_start_writeback`, Linux's sync_file_range), so the device works while later bytes
    /// are still being produced, the final fsync has little left, and the file's dirty pages
    /// never pile up in memory. A hint only: fsync (`sync()`) is still what makes data durable.
    public let writeBehind: Int
    private let progress: WriteBehindProgress?

    public init(descriptor: Int32, path: String, writeBehind: Int = 0) {
        self.descriptor = descriptor
        self.path = path
        self.writeBehind = max(0, writeBehind)
        progress = writeBehind > 0 ? WriteBehindProgress() : nil
    }

    /// Writes all of `bytes` at the current position, retrying short writes and EINTR.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(FileIOError) {
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = systemWrite(descriptor, p, left)
            if n < 0 {
                if errno == EINTR { continue }
                throw .current("write", path: path)
            }
            if n == 0 { throw FileIOError("write", path: path, code: EIO) }
            p += n
            left -= n
        }
        if let progress {
            progress.unstarted += bytes.count
            if progress.unstarted >= writeBehind {
                // A failure here is not an error: the fsync that follows reports real ones.
                _ = stepd_start_writeback(descriptor, Int64(progress.start), Int64(progress.unstarted))
                progress.start += progress.unstarted
                progress.unstarted = 0
            }
        }
    }

    public func write(_ bytes: [UInt8]) throws(FileIOError) {
        try bytes.withBytes { raw throws(FileIOError) in try write(raw) }
    }

    /// Writes all of `bytes` at `offset` without moving the file position.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(FileIOError) {
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count
        var at = offset
        while left > 0 {
            let n = pwrite(descriptor, p, left, off_t(at))
            if n < 0 {
                if errno == EINTR { continue }
                throw .current("pwrite", path: path)
            }
            if n == 0 { throw FileIOError("pwrite", path: path, code: EIO) }
            p += n
            left -= n
            at += n
        }
    }

    /// Forces the file's data and size to stable storage.
    public func sync() throws(FileIOError) {
        while fsync(descriptor) != 0 {
            if errno == EINTR { continue }
            throw .current("fsync", path: path)
        }
    }
}

/// Where write-behind has got to: the bytes from `start` on, `unstarted` of them, have been
/// written but their writeback not started. A reference, so copies of an `OutputFile` share it;
/// `OutputFile` is used by one thread at a time.
private final class WriteBehindProgress: @unchecked Sendable {
    var start = 0
    var unstarted = 0
}

/// `write(2)`, named apart from the method above.
@inline(__always)
func systemWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, p, n)
    #else
    return Darwin.write(fd, p, n)
    #endif
}

/// Reads exactly `buffer.count` bytes at `offset` unless the file ends first; returns how many.
func readFully(_ fd: Int32, path: String, into buffer: UnsafeMutableRawBufferPointer,
               at offset: Int) throws(FileIOError) -> Int {
    guard let base = buffer.baseAddress else { return 0 }
    var done = 0
    while done < buffer.count {
        let n = pread(fd, base + done, buffer.count - done, off_t(offset + done))
        if n < 0 {
            if errno == EINTR { continue }
            throw .current("read", path: path)
        }
        if n == 0 { break }
        done += n
    }
    return done
}
