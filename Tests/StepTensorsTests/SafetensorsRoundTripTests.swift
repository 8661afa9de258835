import Foundation
import Testing
@testable import StepTensors
import StepTensorsTesting
#if canImport(Glibc)
import Glibc
#endif

@Suite struct SafetensorsRoundTripTests {
    static let tensors: [(String, SafetensorsDType, [Int], [UInt8])] = [
        ("layer.0.weight", .f32, [2, 3], floatBytes([1, -2, 3.5, .pi, -0.0, 1e-30])),
        ("scalar", .f32, [], floatBytes([42])),
        ("empty", .f32, [0, 4], []),
        ("also_empty", .f32, [0], []),
        ("state.step", .i64, [2], withUnsafeBytes(of: (Int64(7), Int64(-1))) { Array($0) }),
        ("nan_inf", .f32, [3], floatBytes([.nan, .infinity, -.infinity])),
    ]
    static let metadata = ["format": "stepd-snapshot/1", "config": "{\"lr\": 0.001, \"name\": \"ünïcode\"}"]

    func writeFileThroughDescriptor(_ writer: SafetensorsWriter, _ path: String) throws -> UInt32? {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        #expect(fd >= 0)
        defer { close(fd) }
        return try writer.write(to: OutputFile(descriptor: fd, path: path))
    }

    @Test(arguments: [SafetensorsFile.Access.mapped, .read])
    func fileRoundTripPreservesTensorsMetadataAndChecksum(access: SafetensorsFile.Access) throws {
        try withTemporaryDirectory { dir in
            let path = "\(dir)/a.safetensors"
            let crc = try withWriter(Self.tensors, metadata: Self.metadata) { try writeFileThroughDescriptor($0, path) }
            let file = try SafetensorsFile(path: path, access: access)
            #expect(file.tensors.map(\.name) == Self.tensors.map(\.0))
            for (name, dtype, shape, bytes) in Self.tensors {
                let t = try #require(file.tensor(named: name))
                #expect(t.dtype == dtype)
                #expect(t.shape == shape)
                let got = try file.withUnsafeBytes(of: t) { Array($0) }
                #expect(got == bytes, "tensor \(name)")
                var copy = [UInt8](repeating: 0xAA, count: t.byteCount)
                try copy.withUnsafeMutableBytes { try file.copyBytes(of: t, into: $0) }
                #expect(copy == bytes)
            }
            #expect(try file.floats("scalar") == [42])
            #expect(file.tensor(named: "scalar")?.elementCount == 1)
            #expect(file.tensor(named: "empty")?.elementCount == 0)
            #expect(file.metadata["format"] == Self.metadata["format"])
            #expect(file.metadata["config"] == Self.metadata["config"])
            #expect(file.storedChecksum == crc)
            #expect(try file.verifyChecksum() == crc)
        }
    }

    @Test func inMemoryBytesProducerAndFileAreIdentical() throws {
        try withTemporaryDirectory { dir in
            let path = "\(dir)/a.safetensors"
            try withWriter(Self.tensors, metadata: Self.metadata) { writer in
                _ = try writeFileThroughDescriptor(writer, path)
                let onDisk = try readFile(path)
                let bytes = writer.makeBytes()
                #expect(bytes == onDisk)
                #expect(bytes.count == writer.fileSize)
                let producer = writer.makeProducer()
                #expect(producer.size == bytes.count)
                // Pull the file in awkward piece sizes, as an HTTP layer would.
                for piece in [1, 3, 7, 8, 13, 64, 1000] {
                    var out: [UInt8] = []
                    var buf = [UInt8](repeating: 0, count: piece)
                    while true {
                        let n = buf.withUnsafeMutableBytes { producer.read(at: out.count, into: $0) }
                        if n == 0 { break }
                        out += buf[0..<n]
                    }
                    #expect(out == bytes, "piece size \(piece)")
                }
                // Random access anywhere, including past the end.
                var mid = [UInt8](repeating: 0, count: 10)
                let n = mid.withUnsafeMutableBytes { producer.read(at: bytes.count - 4, into: $0) }
                #expect(n == 4 && Array(mid[0..<4]) == Array(bytes.suffix(4)))
                #expect(mid.withUnsafeMutableBytes { producer.read(at: bytes.count, into: $0) } == 0)
            }
        }
    }

    @Test func headerIsPaddedToEightBytesAndStartsWithBrace() throws {
        let bytes = try withWriter(Self.tensors, metadata: Self.metadata) { $0.makeBytes() }
        let n = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect(n % 8 == 0)
        #expect(bytes[8] == UInt8(ascii: "{"))
        let header = try SafetensorsFile(bytes: bytes).header
        #expect(header.dataStart == 8 + n)
        #expect(header.dataStart % 8 == 0)
    }

    @Test func fileWithoutTensorsOrMetadataRoundTrips() throws {
        let bytes = try withWriter([], checksum: false) { $0.makeBytes() }
        let file = try SafetensorsFile(bytes: bytes)
        #expect(file.tensors.isEmpty && file.metadata.isEmpty)
        #expect(throws: SafetensorsError.checksumMissing) { try file.verifyChecksum() }
    }

    @Test func writerRefusesWhatItCannotEncode() throws {
        let four = floatBytes([1, 2, 3, 4])
        #expect(throws: SafetensorsError.sizeMismatch(tensor: "w", expected: 12, actual: 16)) {
            try withWriter([("w", .f32, [3], four)]) { _ in }
        }
        #expect(throws: SafetensorsError.self) { try withWriter([("w", .f32, [4], four), ("w", .f32, [4], four)]) { _ in } }
        #expect(throws: SafetensorsError.self) { try withWriter([("__metadata__", .f32, [4], four)]) { _ in } }
        #expect(throws: SafetensorsError.self) { try withWriter([("w", .f32, [-4], four)]) { _ in } }
        #expect(throws: SafetensorsError.self) {
            try withWriter([("w", .f32, [4], four)], metadata: ["checksum": "mine"]) { _ in }
        }
    }

    @Test func checksumFormatRoundTrips() {
        for v: UInt32 in [0, 1, 0xE306_9283, .max] {
            #expect(SafetensorsChecksum.parse(SafetensorsChecksum.format(v)) == v)
        }
        #expect(SafetensorsChecksum.format(0xAB) == "crc32c:000000ab")
        #expect(SafetensorsChecksum.parse("crc32c:0000000G") == nil)
        #expect(SafetensorsChecksum.parse("crc32c:ABCDEF00") == nil)
        #expect(SafetensorsChecksum.parse("crc32:00000000") == nil)
    }
}
