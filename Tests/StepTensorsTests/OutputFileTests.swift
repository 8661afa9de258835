import Foundation
import Testing
@testable import StepTensors
import StepTensorsTesting
#if canImport(Glibc)
import Glibc
#endif

@Suite struct OutputFileTests {
    /// Write-behind only starts writeback early; the bytes are the bytes, whatever the window,
    /// copies of the value share its progress, and positioned writes still land where told.
    @Test(arguments: [0, 1, 4096, 10_000, 1 << 20])
    func writeBehindChangesNoByte(window: Int) throws {
        try withTemporaryDirectory { dir in
            let path = "\(dir)/f"
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            try #require(fd >= 0)
            defer { close(fd) }
            let file = OutputFile(descriptor: fd, path: path, writeBehind: window)
            var expected: [UInt8] = []
            for k in 0..<40 {
                let piece = (0..<(k * 517 % 3001)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ k) }
                let copy = file
                try (k % 2 == 0 ? file : copy).write(piece)
                expected += piece
            }
            try [UInt8](repeating: 9, count: 3).withUnsafeBytes { try file.write($0, at: 5) }
            expected.replaceSubrange(5..<8, with: [9, 9, 9])
            try file.sync()
            #expect(try readFile(path) == expected)
        }
    }
}
