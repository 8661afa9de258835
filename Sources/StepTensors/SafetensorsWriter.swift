/// Writes a safetensors file from tensors that stay where they are (a session's parameter and
/// state buffers): the header is computed up front, then each tensor's bytes go straight from
/// its buffer to the file descriptor, so an 800 MB snapshot never exists twice in memory.
///
/// The writer only borrows `Tensor.bytes`: they must stay alive and unchanged until `write`,
/// `makeBytes` or the last `SafetensorsByteProducer.read` has returned. Bytes are written as
/// they lie in memory, which is the little-endian order safetensors specifies on every
/// platform stepd runs on. Sendable under that same contract (it holds no mutable state).
public struct SafetensorsWriter: @unchecked Sendable {
    public struct Tensor: @unchecked Sendable {
        public let name: String
        public let dtype: SafetensorsDType
        public let shape: [Int]
        public let bytes: UnsafeRawBufferPointer

        public init(name: String, dtype: SafetensorsDType, shape: [Int], bytes: UnsafeRawBufferPointer) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.bytes = bytes
        }

        public init(name: String, shape: [Int], floats: UnsafeBufferPointer<Float>) {
            self.init(name: name, dtype: .f32, shape: shape, bytes: UnsafeRawBufferPointer(floats))
        }
    }

    /// The first `dataStart` bytes of the file; with a checksum, its digits are still `0`s.
    let headerBytes: [UInt8]
    public let tensors: [SafetensorsTensorInfo]
    let sources: [UnsafeRawBufferPointer]
    /// File offset of the checksum's 8 hex digits, when the file carries one.
    let checksumDigitsAt: Int?

    public var dataStart: Int { headerBytes.count }
    public var fileSize: Int { headerBytes.count + (tensors.last?.dataOffsets.upperBound ?? 0) }

    /// Validates names, shapes and sizes now, so a write cannot fail halfway for a reason known
    /// in advance. With `checksum` (the default) the file carries the `SafetensorsChecksum`
    /// entry; `metadata` must then not use that key itself.
    public init(tensors: [Tensor], metadata: [String: String] = [:], checksum: Bool = true) throws(SafetensorsError) {
        var seen = Set<String>()
        for t in tensors {
            guard t.name != "__metadata__" else { throw .invalidArgument("tensor name __metadata__ is reserved") }
            guard seen.insert(t.name).inserted else { throw .invalidArgument("tensor \(t.name) appears twice") }
            guard let expected = SafetensorsTensorInfo.expectedByteCount(shape: t.shape, dtype: t.dtype) else {
                throw .invalidArgument("tensor \(t.name): shape \(t.shape) is negative or overflows")
            }
            guard expected == t.bytes.count else {
                throw .sizeMismatch(tensor: t.name, expected: expected, actual: t.bytes.count)
            }
        }
        var meta = metadata
        if checksum {
            guard meta[SafetensorsChecksum.metadataKey] == nil else {
                throw .invalidArgument("metadata key \"\(SafetensorsChecksum.metadataKey)\" is reserved for the writer's checksum")
            }
            meta[SafetensorsChecksum.metadataKey] = SafetensorsChecksum.placeholder
        }
        let encoded = SafetensorsHeader.encode(
            metadata: meta, tensors: tensors.map { ($0.name, $0.dtype, $0.shape, $0.bytes.count) })
        guard encoded.bytes.count - 8 <= SafetensorsHeader.maxHeaderLength else {
            throw .invalidArgument("header would be \(encoded.bytes.count - 8) bytes, over the format's limit")
        }
        self.headerBytes = encoded.bytes
        self.tensors = encoded.infos
        self.sources = tensors.map(\.bytes)
        self.checksumDigitsAt = encoded.checksumDigitsAt
    }

    /// Bytes per write(2): small enough that a chunk is still in cache when the checksum has
    /// read it and the kernel copies it, large enough that syscalls cost nothing.
    static let chunk = 1 << 20

    /// Streams the file to `file` from its current position (which must be 0 of a regular
    /// file when there is a checksum: the digits are patched in with pwrite at the end).
    /// Returns the checksum, if the file has one. Does not fsync; `SnapshotWriter` does.
    @discardableResult
    public func write(to file: OutputFile) throws(FileIOError) -> UInt32? {
        try write(to: file, eachBlock: { (block) throws(FileIOError) in try block() })
    }

    /// `write(to:)` with every block of the sources read (checksummed and written) inside
    /// `eachBlock`, which must call the block once or throw: the hook for sources that may only
    /// be read under a lock, such as a session's live buffers (`SessionSnapshot.whileUnchanged`).
    /// A block is at most `chunk` bytes of one source. The header and the checksum's digits go
    /// through it too (they read no source), so whatever it throws is all this throws.
    @discardableResult
    public func write<E: Error>(to file: OutputFile,
                                eachBlock: (_ block: () throws(FileIOError) -> Void) throws(E) -> Void) throws(E) -> UInt32? {
        var crc = CRC32C()
        let checksummed = checksumDigitsAt != nil
        try eachBlock { () throws(FileIOError) in
            try file.write(headerBytes)
            if checksummed { crc.update(headerBytes) }
        }
        for source in sources where source.count > 0 {
            var at = 0
            while at < source.count {
                let piece = UnsafeRawBufferPointer(rebasing: source[at..<min(at + Self.chunk, source.count)])
                try eachBlock { () throws(FileIOError) in
                    if checksummed { crc.update(piece) }
                    try file.write(piece)
                }
                at += piece.count
            }
        }
        guard let digitsAt = checksumDigitsAt else { return nil }
        let digits = Array(SafetensorsChecksum.format(crc.value).utf8.suffix(8))
        try eachBlock { () throws(FileIOError) in
            try digits.withBytes { raw throws(FileIOError) in try file.write(raw, at: digitsAt) }
        }
        return crc.value
    }

    /// The checksum the file will carry (one pass over all tensor bytes), or nil without one.
    public func computeChecksum() -> UInt32? {
        guard checksumDigitsAt != nil else { return nil }
        var crc = CRC32C()
        crc.update(headerBytes)
        for s in sources { crc.update(s) }
        return crc.value
    }

    /// A random-access view of the finished file for an HTTP response: computes the checksum
    /// first (one pass), then serves any byte range without building the file.
    public func makeProducer() -> SafetensorsByteProducer {
        var header = headerBytes
        if let at = checksumDigitsAt, let crc = computeChecksum() {
            header.replaceSubrange(at..<(at + 8), with: SafetensorsChecksum.format(crc).utf8.suffix(8))
        }
        return SafetensorsByteProducer(header: header, sources: sources)
    }

    /// The whole file in memory: for small sessions, tests and in-process round trips.
    public func makeBytes() -> [UInt8] {
        let producer = makeProducer()
        return [UInt8](unsafeUninitializedCapacity: producer.size) { buf, count in
            count = producer.read(at: 0, into: UnsafeMutableRawBufferPointer(buf))
        }
    }
}
