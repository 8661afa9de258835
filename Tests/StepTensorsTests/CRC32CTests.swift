import Foundation
import Testing
@testable import StepTensors
import StepTensorsTesting

@Suite struct CRC32CTests {
    /// The implementations this CPU runs (the hardware one wherever the tests run on x86-64 or
    /// arm64 with the CRC extension; on x86-64 that is every CPU since 2008).
    static let implementations = CRC32C.Implementation.allCases.filter(\.isAvailable)

    @Test func theHardwareIsUsedWhereThereIsOne() {
        #if arch(x86_64) || arch(arm64)
        #expect(CRC32C.Implementation.hardware.isAvailable, "no CRC-32C instruction found on this CPU")
        #endif
        #expect(CRC32C.preferred == (CRC32C.Implementation.hardware.isAvailable ? .hardware : .table))
    }

    @Test(arguments: implementations)
    func knownAnswerFor123456789(_ implementation: CRC32C.Implementation) {
        #expect(CRC32C.checksum(Array("123456789".utf8), using: implementation) == 0xE306_9283)
    }

    @Test(arguments: implementations)
    func emptyInputIsZero(_ implementation: CRC32C.Implementation) {
        #expect(CRC32C.checksum([], using: implementation) == 0)
    }

    /// RFC 3720 (iSCSI) B.4 test vectors.
    @Test(arguments: implementations)
    func iscsiVectors(_ implementation: CRC32C.Implementation) {
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32), using: implementation) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32), using: implementation) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }, using: implementation) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).map { UInt8(31 - $0) }, using: implementation) == 0x113F_DB5C)
    }

    /// Against the definition computed bit by bit, over a buffer long enough for the hardware's
    /// three-stream blocks and their combination.
    @Test(arguments: implementations)
    func aLongInputMatchesTheBitwiseDefinition(_ implementation: CRC32C.Implementation) {
        let data = (0..<100_003).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) }
        #expect(CRC32C.checksum(data, using: implementation) == Self.bitwise(data))
    }

    /// The definition, one bit at a time: slow, obviously right.
    static func bitwise(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ (0x82F6_3B78 & (0 &- (crc & 1))) }
        }
        return ~crc
    }

    /// Hardware and tables agree on random data at every start alignment and on lengths around
    /// every boundary the hardware version has (8-byte words, 3×256 and 3×8192 blocks).
    @Test func hardwareAndTablesAgreeOnRandomLengthsAndAlignments() throws {
        try #require(CRC32C.Implementation.hardware.isAvailable)
        var rng = SystemRandomNumberGenerator()
        let data = (0..<(3 * 8192 * 3 + 64)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        var lengths = Set<Int>([0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65])
        for block in [256, 8192] {
            for k in 1...3 { for d in -9...9 { lengths.insert(3 * block * k + d) } }
        }
        for _ in 0..<200 { lengths.insert(Int.random(in: 0...(data.count - 8), using: &rng)) }
        data.withUnsafeBytes { raw in
            for offset in 0..<8 {
                for length in lengths.sorted() where offset + length <= raw.count {
                    let slice = UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + length)])
                    let table = CRC32C.checksum(slice, using: .table)
                    let hardware = CRC32C.checksum(slice, using: .hardware)
                    #expect(table == hardware, "offset \(offset) length \(length)")
                }
            }
            // Chained updates: any split, mixing the two, gives the one-shot value.
            let whole = CRC32C.checksum(raw, using: .table)
            for _ in 0..<50 {
                var c = CRC32C()
                var at = 0
                while at < raw.count {
                    let n = min(raw.count - at, Int.random(in: 0...30_000, using: &rng))
                    c.update(UnsafeRawBufferPointer(rebasing: raw[at..<(at + n)]), using: Bool.random(using: &rng) ? .table : .hardware)
                    at += n
                }
                #expect(c.value == whole)
            }
        }
    }

    @Test func incrementalUpdatesMatchOneShotAtAnySplitAndAlignment() {
        var rng = SystemRandomNumberGenerator()
        let data = (0..<1000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let whole = CRC32C.checksum(data)
        for offset in 0..<9 {
            // Unaligned starts exercise the bytewise prologue.
            let slice = Array(data[offset...])
            var c = CRC32C()
            slice.withUnsafeBytes { raw in
                c.update(UnsafeRawBufferPointer(rebasing: raw[0..<(37 + offset)]))
                c.update(UnsafeRawBufferPointer(rebasing: raw[(37 + offset)...]))
            }
            #expect(c.value == CRC32C.checksum(slice))
        }
        for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
            var c = CRC32C()
            c.update(Array(data[..<split]))
            c.update(Array(data[split...]))
            #expect(c.value == whole)
        }
    }

    /// Throughput on 100 MB, each implementation; run with STEPD_BENCH=1 in a release build.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["STEPD_BENCH"] == "1"), arguments: implementations)
    func throughputOn100MB(_ implementation: CRC32C.Implementation) {
        let n = 100 * 1024 * 1024
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: n, alignment: 64)
        defer { buf.deallocate() }
        for i in 0..<n { buf[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 7) }
        var best = Double.infinity
        var value: UInt32 = 0
        for _ in 0..<5 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            value = CRC32C.checksum(UnsafeRawBufferPointer(buf), using: implementation)
            let t = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            best = min(best, t)
        }
        print("CRC-32C (\(implementation)) over 100 MiB: best of 5 \(String(format: "%.1f", best * 1000)) ms = \(String(format: "%.0f", Double(n) / best / 1e6)) MB/s (crc \(String(value, radix: 16)))")
    }
}
