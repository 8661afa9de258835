import Foundation
import StepTensors
#if canImport(Glibc)
import Glibc
#endif

// Helpers shared by the codec's tests and the store's (StepTensorsTests, StepStoreTests): test
// code only, in a target of its own so no production target carries it.

/// A fresh directory under the system temp dir, removed when the test's closure returns.
public func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
    var template = Array("\(NSTemporaryDirectory())/stepstore-test-XXXXXX".utf8CString)
    guard let p = mkdtemp(&template) else { throw FileIOError("mkdtemp", path: "tmp", code: errno) }
    let dir = String(cString: p)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    return try body(dir)
}

public func readFile(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

public func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

public func directoryNames(_ dir: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
}

/// A safetensors file built by hand, for feeding the parser headers a writer would never make.
public func rawSafetensors(json: String, data: [UInt8], pad: Bool = true) -> [UInt8] {
    var j = Array(json.utf8)
    while pad && j.count % 8 != 0 { j.append(UInt8(ascii: " ")) }
    var out: [UInt8] = []
    let n = UInt64(j.count)
    for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: n >> (8 * UInt64(i)))) }
    return out + j + data
}

public func floatBytes(_ values: [Float]) -> [UInt8] {
    values.withUnsafeBytes { Array($0) }
}

/// Builds a writer over owned arrays and keeps them alive for `body`.
public func withWriter<R>(_ tensors: [(String, SafetensorsDType, [Int], [UInt8])], metadata: [String: String] = [:],
                   checksum: Bool = true, _ body: (SafetensorsWriter) throws -> R) throws -> R {
    let storage = tensors.map { t -> UnsafeMutableRawBufferPointer in
        let b = UnsafeMutableRawBufferPointer.allocate(byteCount: t.3.count, alignment: 64)
        t.3.withUnsafeBytes { b.copyMemory(from: $0) }
        return b
    }
    defer { storage.forEach { $0.deallocate() } }
    let writer = try SafetensorsWriter(
        tensors: zip(tensors, storage).map { SafetensorsWriter.Tensor(name: $0.0, dtype: $0.1, shape: $0.2, bytes: UnsafeRawBufferPointer($1)) },
        metadata: metadata, checksum: checksum)
    return try body(writer)
}

/// A small snapshot's bytes with a checksum: a couple of tensors and the step in the metadata.
public func sampleSnapshot(step: Int, scale: Float = 1) throws -> [UInt8] {
    try withWriter([
        ("w", .f32, [2, 3], floatBytes((0..<6).map { Float($0) * scale })),
        ("exp_avg", .f32, [6], floatBytes((0..<6).map { Float($0) * 0.5 * scale })),
    ], metadata: ["step": String(step)]) { $0.makeBytes() }
}

/// The error opening these bytes produces (header validation only), or nil if they open.
public func openError(_ bytes: [UInt8]) -> SafetensorsError? {
    do { _ = try SafetensorsFile(bytes: bytes); return nil } catch { return error }
}

/// The error opening and checksum-verifying these bytes produces, or nil if they pass.
public func verifyError(_ bytes: [UInt8]) -> SafetensorsError? {
    do { try SafetensorsFile(bytes: bytes).verifyChecksum(); return nil } catch { return error }
}
