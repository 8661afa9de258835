import Foundation
import Testing
@testable import StepStore
#if canImport(Glibc)
import Glibc
#endif
import StepTensors
import StepTensorsTesting

@Suite struct SnapshotWriterTests {
    struct Boom: Error {}

    func noTempFiles(_ dir: String) throws -> Bool {
        try directoryNames(dir).allSatisfy { !SnapshotWriter.isTemporaryName($0) }
    }

    @Test func writeCreatesTheFileAndLeavesNoTempFile() throws {
        try withTemporaryDirectory { dir in
            let path = "\(dir)/s.bin"
            try SnapshotWriter.write(to: path) { try $0.write(Array("hello".utf8)) }
            #expect(try readFile(path) == Array("hello".utf8))
            #expect(try directoryNames(dir) == ["s.bin"])
        }
    }

    @Test func writeReplacesThePreviousFileWhole() throws {
        try withTemporaryDirectory { dir in
            let path = "\(dir)/s.bin"
            try writeFile(path, Array(repeating: 7, count: 100))
            try SnapshotWriter.write(to: path) { try $0.write([1, 2, 3]) }
            #expect(try readFile(path) == [1, 2, 3])
            #expect(try directoryNames(dir) == ["s.bin"])
        }
    }

    @Test func failingBodyLeavesTheOldFileAndRemovesTheTempFile() throws {
        try withTemporaryDirectory { dir in
            let path = "\(dir)/s.bin"
            try writeFile(path, [9, 9, 9])
            #expect(throws: Boom.self) {
                try SnapshotWriter.write(to: path) { file in
                    try file.write([1, 2, 3, 4])
                    throw Boom()
                }
            }
            #expect(try readFile(path) == [9, 9, 9])
            #expect(try directoryNames(dir) == ["s.bin"])
        }
    }

    /// A real ENOSPC from the kernel, mid-write: the temp file's descriptor is swapped for
    /// /dev/full (dup2 keeps the descriptor number, so the writer's later close is its own).
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/dev/full")))
    func fullDiskLeavesTheOldFileAndReportsENOSPCWithThePath() throws {
        try withTemporaryDirectory { dir in
            let path = "\(dir)/snapshot.safetensors"
            let old = try sampleSnapshot(step: 1)
            try writeFile(path, old)
            var thrown: (any Error)?
            do {
                try withWriter([("w", .f32, [1000], floatBytes(Array(repeating: 1, count: 1000)))]) { writer in
                    try SnapshotWriter.write(to: path) { file in
                        let full = open("/dev/full", O_WRONLY)
                        #expect(full >= 0)
                        #expect(dup2(full, file.descriptor) == file.descriptor)
                        close(full)
                        try writer.write(to: file)
                    }
                }
            } catch { thrown = error }
            let e = try #require(thrown as? FileIOError)
            #expect(e.code == ENOSPC && e.isNoSpace)
            #expect(e.description.contains("No space left on device"))
            #expect(e.path.hasPrefix("\(dir)/.snapshot.safetensors.tmp-"))
            #expect(try readFile(path) == old)
            #expect(try directoryNames(dir) == ["snapshot.safetensors"])
        }
    }

    /// Works as root too: no permission bit can make a regular file a directory.
    @Test func unwritableLocationFailsNamingThePathAndErrno() throws {
        try withTemporaryDirectory { dir in
            try writeFile("\(dir)/not-a-dir", [1])
            let e = try #require(throws: FileIOError.self) {
                try SnapshotWriter.write(to: "\(dir)/not-a-dir/s.bin") { try $0.write([1]) }
            }
            #expect(e.code == ENOTDIR)
            #expect(e.operation == "create")
            #expect(e.description.contains("\(dir)/not-a-dir/.s.bin.tmp-"))
            #expect(e.description.contains("Not a directory"))
            #expect(try readFile("\(dir)/not-a-dir") == [1])
        }
    }

    /// Permission bits do not stop root, so this one runs only for other users.
    @Test(.enabled(if: getuid() != 0))
    func readOnlyDirectoryFailsWithEACCESAndKeepsTheOldFile() throws {
        try withTemporaryDirectory { dir in
            let path = "\(dir)/s.bin"
            try writeFile(path, [5])
            chmod(dir, 0o555)
            defer { chmod(dir, 0o755) }
            let e = try #require(throws: FileIOError.self) {
                try SnapshotWriter.write(to: path) { try $0.write([6]) }
            }
            #expect(e.code == EACCES)
            #expect(try readFile(path) == [5])
        }
    }

    @Test func renameOntoADirectoryFailsAndRemovesTheTempFile() throws {
        try withTemporaryDirectory { dir in
            let path = "\(dir)/target"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            try writeFile("\(path)/keep", [1])
            let e = try #require(throws: FileIOError.self) {
                try SnapshotWriter.write(to: path) { try $0.write([6]) }
            }
            #expect(e.operation == "rename")
            #expect(try directoryNames(dir) == ["target"])
            #expect(try readFile("\(path)/keep") == [1])
        }
    }
}
