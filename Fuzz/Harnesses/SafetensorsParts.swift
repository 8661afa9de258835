import StepStore
import StepTensors

/// A safetensors file taken apart into its metadata and tensors, to be put back together after
/// a change: the checkpoint mutator and the seed generator edit metadata this way and get a
/// well-formed file (header length, offsets, padding) with or without a correct checksum.
struct SafetensorsParts {
    var metadata: [String: String]
    var tensors: [(name: String, dtype: SafetensorsDType, shape: [Int], bytes: [UInt8])]

    init?(_ bytes: [UInt8]) {
        guard let file = try? SafetensorsFile(bytes: bytes) else { return nil }
        metadata = file.metadata
        tensors = []
        for t in file.tensors {
            guard let data = try? file.withUnsafeBytes(of: t, { Array($0) }) else { return nil }
            tensors.append((t.name, t.dtype, t.shape, data))
        }
    }

    var hasChecksum: Bool { metadata[SafetensorsChecksum.metadataKey] != nil }

    /// The file's bytes; with `checksum`, carrying a correct CRC-32C. Nil if the writer refuses
    /// (a metadata set too large for the format, for instance).
    func encoded(checksum: Bool) -> [UInt8]? {
        var meta = metadata
        meta[SafetensorsChecksum.metadataKey] = nil
        let storage = tensors.map { t -> UnsafeMutableRawBufferPointer in
            let b = UnsafeMutableRawBufferPointer.allocate(byteCount: t.bytes.count, alignment: 64)
            t.bytes.withUnsafeBytes { b.copyMemory(from: $0) }
            return b
        }
        defer { storage.forEach { $0.deallocate() } }
        let parts = zip(tensors, storage).map {
            SafetensorsWriter.Tensor(name: $0.name, dtype: $0.dtype, shape: $0.shape, bytes: UnsafeRawBufferPointer($1))
        }
        guard let writer = try? SafetensorsWriter(tensors: parts, metadata: meta, checksum: checksum) else { return nil }
        return writer.makeBytes()
    }
}
