import Foundation
import Testing
@testable import StepTensors
import StepTensorsTesting

@Suite struct CRC32CTests {
    @Test func knownAnswerFor123456789() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test func emptyInputIsZero() {
        #expect(CRC32C.checksum([]) == 0)
    }

    /// RFC 3720 (iSCSI) B.4 test vectors.
    @Test func iscsiVectors() {
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).map { UInt8(31 - $0) }) == 0x113F_DB5C)
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

    /// Throughput on 100 MB; run with STEPD_BENCH=1 in a release build (see the report).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["STEPD_BENCH"] == "1"))
    func throughputOn100MB() {
        let n = 100 * 1024 * 1024
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: n, alignment: 64)
        defer { buf.deallocate() }
        for i in 0..<n { buf[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 7) }
        var best = Double.infinity
        var value: UInt32 = 0
        for _ in 0..<5 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            value = CRC32C.checksum(UnsafeRawBufferPointer(buf))
            let t = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            best = min(best, t)
        }
        print("CRC-32C over 100 MiB: best of 5 \(String(format: "%.1f", best * 1000)) ms = \(String(format: "%.0f", Double(n) / best / 1e6)) MB/s (crc \(String(value, radix: 16)))")
    }
}
