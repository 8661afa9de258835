#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A safetensors file opened for reading, its header already validated. Tensor bytes are reached
/// through a read-only memory map (`.mapped`, zero-copy: restore copies straight from the page
/// cache into the session's buffers) or through pread (`.read`, for callers that prefer not to
/// risk SIGBUS if someone truncates the file under them; snapshot files are replaced by rename,
/// never rewritten, so the map is safe for them).
///
/// Immutable after opening, so Sendable; the mapping or descriptor is released on deinit.
public final class SafetensorsFile: @unchecked Sendable {
    public enum Access: Sendable { case mapped, read }

    private enum Storage {
        case mapped(UnsafeRawPointer, Int)
        case descriptor(Int32)
        case memory([UInt8])
    }

    public let path: String
    public let header: SafetensorsHeader
    /// The file's bytes up to the start of the data (prefix and JSON), kept for the checksum.
    private let headerBytes: [UInt8]
    private let storage: Storage

    public var metadata: [String: String] { header.metadata }
    public var tensors: [SafetensorsTensorInfo] { header.tensors }
    public var fileSize: Int { header.fileSize }

    public init(path: String, access: Access = .mapped) throws(SafetensorsError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(.current("open", path: path)) }
        var keepDescriptor = false
        defer { if !keepDescriptor { close(fd) } }

        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .io(.current("fstat", path: path)) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw .io(FileIOError("open", path: path, code: EISDIR)) }
        let size = Int(st.st_size)

        var prefix = [UInt8](repeating: 0, count: 8)
        let got: Int
        do { got = try prefix.withMutableBytes { raw throws(FileIOError) in try readFully(fd, path: path, into: raw, at: 0) } }
        catch { throw .io(error) }
        let n = try prefix.withBytes { raw throws(SafetensorsError) in
            try SafetensorsHeader.headerLength(prefix: UnsafeRawBufferPointer(rebasing: raw[0..<got]), fileSize: size)
        }

        var bytes = [UInt8](repeating: 0, count: 8 + n)
        let read: Int
        do { read = try bytes.withMutableBytes { raw throws(FileIOError) in try readFully(fd, path: path, into: raw, at: 0) } }
        catch { throw .io(error) }
        // The file shrank between fstat and read: treat as truncated rather than parse zeros.
        guard read == bytes.count else { throw .truncated(needed: bytes.count, available: read) }
        let parsed = try bytes.withBytes { raw throws(SafetensorsError) in
            try SafetensorsHeader.parse(json: UnsafeRawBufferPointer(rebasing: raw[8...]), dataLength: size - 8 - n)
        }
        self.header = parsed
        self.headerBytes = bytes

        switch access {
        case .read:
            keepDescriptor = true
            storage = .descriptor(fd)
        case .mapped:
            guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
                throw .io(.current("mmap", path: path))
            }
            storage = .mapped(UnsafeRawPointer(p), size)
        }
    }

    /// A file held in memory, e.g. a checkpoint upload received into a buffer.
    public init(bytes: [UInt8], name: String = "<memory>") throws(SafetensorsError) {
        self.path = name
        let parsed = try bytes.withBytes { raw throws(SafetensorsError) in try SafetensorsHeader.parse(file: raw) }
        self.header = parsed
        self.headerBytes = Array(bytes[0..<parsed.dataStart])
        self.storage = .memory(bytes)
    }

    deinit {
        switch storage {
        case .mapped(let p, let n): munmap(UnsafeMutableRawPointer(mutating: p), n)
        case .descriptor(let fd): close(fd)
        case .memory: break
        }
    }

    public func tensor(named name: String) -> SafetensorsTensorInfo? { header.tensor(named: name) }

    /// Calls `body` with the tensor's bytes: in place for mapped and in-memory files, through a
    /// temporary buffer for `.read`. The pointer is valid only inside `body`.
    public func withUnsafeBytes<R>(of tensor: SafetensorsTensorInfo,
                                   _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let start = header.dataStart + tensor.dataOffsets.lowerBound
        switch storage {
        case .mapped(let p, _):
            return try body(UnsafeRawBufferPointer(start: p + start, count: tensor.byteCount))
        case .memory(let bytes):
            return try bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<(start + tensor.byteCount)])) }
        case .descriptor:
            let tmp = UnsafeMutableRawBufferPointer.allocate(byteCount: tensor.byteCount, alignment: 64)
            defer { tmp.deallocate() }
            try copyBytes(of: tensor, into: tmp)
            return try body(UnsafeRawBufferPointer(tmp))
        }
    }

    /// Copies the tensor's bytes into `destination`, which must be exactly `byteCount` long.
    public func copyBytes(of tensor: SafetensorsTensorInfo, into destination: UnsafeMutableRawBufferPointer) throws(SafetensorsError) {
        guard destination.count == tensor.byteCount else {
            throw .invalidArgument("tensor \(tensor.name) has \(tensor.byteCount) bytes, destination has \(destination.count)")
        }
        guard tensor.byteCount > 0 else { return }
        let start = header.dataStart + tensor.dataOffsets.lowerBound
        switch storage {
        case .mapped(let p, _):
            destination.baseAddress!.copyMemory(from: p + start, byteCount: tensor.byteCount)
        case .memory(let bytes):
            bytes.withUnsafeBytes { destination.baseAddress!.copyMemory(from: $0.baseAddress! + start, byteCount: tensor.byteCount) }
        case .descriptor(let fd):
            let n: Int
            do { n = try readFully(fd, path: path, into: destination, at: start) } catch { throw .io(error) }
            guard n == destination.count else { throw .truncated(needed: start + destination.count, available: start + n) }
        }
    }

    /// The tensor as Floats (it must be F32): a convenience for tests and small tensors.
    public func floats(_ name: String) throws(SafetensorsError) -> [Float] {
        guard let t = tensor(named: name) else { throw .noSuchTensor(name) }
        guard t.dtype == .f32 else { throw .invalidArgument("tensor \(name) is \(t.dtype.rawValue), not F32") }
        var out = [Float](repeating: 0, count: t.elementCount)
        try out.withMutableBytes { raw throws(SafetensorsError) in try copyBytes(of: t, into: raw) }
        return out
    }

    /// The checksum the header claims, if it has a well-formed one.
    public var storedChecksum: UInt32? {
        metadata[SafetensorsChecksum.metadataKey].flatMap(SafetensorsChecksum.parse)
    }

    /// Recomputes the `SafetensorsChecksum` over the whole file and compares it with the header's.
    /// Throws `.checksumMissing` for a file without one (such as one saved by Python), so a caller
    /// that requires integrity (snapshot restore) gets an error and one that does not (a
    /// checkpoint upload) can catch exactly that case.
    @discardableResult
    public func verifyChecksum() throws(SafetensorsError) -> UInt32 {
        try load(verifyingChecksum: true) { _ in nil }!
    }

    /// Reads the data once, in file order, each tensor's bytes into the buffer `destination`
    /// gives for it (exactly `byteCount` bytes; nil: read and discard), and with
    /// `verifyingChecksum` checks the `SafetensorsChecksum` on the way (the same errors as
    /// `verifyChecksum`): one pass over the file where `verifyChecksum` then `copyBytes` make
    /// two. A tensor is checksummed a block at a time right after the block is read, while the
    /// block is still in cache. When it throws, the destinations hold unverified bytes.
    /// Returns the checksum when verifying, else nil.
    @discardableResult
    public func load(verifyingChecksum: Bool,
                     into destination: (SafetensorsTensorInfo) -> UnsafeMutableRawBufferPointer?) throws(SafetensorsError) -> UInt32? {
        var crc: CRC32C? = nil
        var stored: UInt32 = 0
        if verifyingChecksum {
            guard let value = metadata[SafetensorsChecksum.metadataKey] else { throw .checksumMissing }
            guard let claimed = SafetensorsChecksum.parse(value) else {
                throw .checksumMalformed("expected \(SafetensorsChecksum.prefix) and 8 lowercase hex digits, got \"\(value)\"")
            }
            stored = claimed
            let digitsAt = try headerBytes.withBytes { raw throws(SafetensorsError) in
                try SafetensorsChecksum.digitsOffset(inHeaderJSON: UnsafeRawBufferPointer(rebasing: raw[8...])) + 8
            }
            crc = headerBytes.withUnsafeBytes { SafetensorsChecksum.begin(header: $0, digitsAt: digitsAt) }
        }
        let chunk = Self.loadChunk
        // Scratch for tensors nobody wants (still read for the checksum), allocated on demand.
        var scratch: UnsafeMutableRawBufferPointer? = nil
        defer { scratch?.deallocate() }
        // The header tiles the data with the tensors in this order (validated when opening).
        for t in header.tensors where t.byteCount > 0 {
            let target = destination(t)
            if let target, target.count != t.byteCount {
                throw .invalidArgument("tensor \(t.name) has \(t.byteCount) bytes, destination has \(target.count)")
            }
            if target == nil && crc == nil { continue }
            let start = header.dataStart + t.dataOffsets.lowerBound
            if target == nil {
                // Checksum only: straight from memory where the bytes are there already.
                switch storage {
                case .mapped(let p, _):
                    crc!.update(UnsafeRawBufferPointer(start: p + start, count: t.byteCount))
                    continue
                case .memory(let bytes):
                    bytes.withUnsafeBytes { crc!.update(UnsafeRawBufferPointer(rebasing: $0[start..<(start + t.byteCount)])) }
                    continue
                case .descriptor:
                    break
                }
            }
            var done = 0
            while done < t.byteCount {
                let n = min(chunk, t.byteCount - done)
                let block: UnsafeMutableRawBufferPointer
                if let target {
                    block = UnsafeMutableRawBufferPointer(rebasing: target[done..<(done + n)])
                } else {
                    if scratch == nil { scratch = .allocate(byteCount: chunk, alignment: 64) }
                    block = UnsafeMutableRawBufferPointer(rebasing: scratch![0..<n])
                }
                let at = start + done
                switch storage {
                case .mapped(let p, _):
                    block.baseAddress!.copyMemory(from: p + at, byteCount: n)
                case .memory(let bytes):
                    bytes.withUnsafeBytes { block.baseAddress!.copyMemory(from: $0.baseAddress! + at, byteCount: n) }
                case .descriptor(let fd):
                    // Plain sequential reads: the kernel's own read-ahead keeps the device busy
                    // while a block is copied (and its destination's pages faulted in) and
                    // checksummed. posix_fadvise SEQUENTIAL or WILLNEED windows only made
                    // this slower when measured here (a 600 MB file: 0.42 s without, 0.73 s
                    // with SEQUENTIAL, 1.37 s with 32 MiB WILLNEED windows; medians of 10).
                    let got: Int
                    do { got = try readFully(fd, path: path, into: block, at: at) } catch { throw .io(error) }
                    guard got == n else { throw .truncated(needed: header.fileSize, available: at + got) }
                }
                crc?.update(UnsafeRawBufferPointer(block))
                done += n
            }
        }
        guard let crc else { return nil }
        guard crc.value == stored else { throw .checksumMismatch(stored: stored, computed: crc.value) }
        return stored
    }

    /// Bytes per read (and per checksum update) in `load`: large enough that a syscall costs
    /// nothing, small enough that the block is still in cache when it is checksummed.
    static let loadChunk = 1 << 20
}
