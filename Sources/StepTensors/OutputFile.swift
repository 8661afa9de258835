#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open, writable file descriptor together with its path, so every write error can name the
/// file it failed on. Snapshot and checkpoint writers write through it; it does not own the
/// descriptor (whoever opened it closes it).
public struct OutputFile: Sendable {
    public let descriptor: Int32
    public let path: String

    public init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
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
