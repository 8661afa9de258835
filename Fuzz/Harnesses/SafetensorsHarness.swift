#if canImport(Glibc)
import Glibc
#endif
import StepFuzzDriver
import StepStore
import StepTensors

/// The input as a safetensors file, read the three ways stepd reads one: from memory (a
/// checkpoint upload), and from a file through mmap (snapshot restore) and through pread. Every
/// tensor's bytes are touched, F32 tensors decoded, and the checksum verified when present. The
/// three must agree on whether the file is valid and on its header.
enum SafetensorsHarness {
    /// One anonymous in-memory file per process (memfd), rewritten for each input and opened
    /// by path through /proc, so the file-reading code runs without touching the disk.
    static let memfd: Int32 = {
        let fd = stepd_fuzz_memfd()
        precondition(fd >= 0, "memfd_create failed: errno \(errno)")
        return fd
    }()

    static func run(_ data: UnsafeRawBufferPointer) {
        let bytes = Array(data)
        let memory = try? SafetensorsFile(bytes: bytes)
        if let memory { exercise(memory) }

        precondition(ftruncate(memfd, 0) == 0 && pwrite(memfd, data.baseAddress, data.count, 0) == data.count,
                     "cannot write the input to the memfd: errno \(errno)")
        for access in [SafetensorsFile.Access.mapped, .read] {
            let file = try? SafetensorsFile(path: "/proc/self/fd/\(memfd)", access: access)
            precondition((file == nil) == (memory == nil),
                         "\(access) and in-memory reading disagree: \(file == nil ? "only memory" : "only \(access)") accepts the file")
            if let file, let memory {
                precondition(file.header == memory.header, "\(access) and in-memory reading parse different headers")
                exercise(file)
            }
        }
    }

    static func exercise(_ file: SafetensorsFile) {
        var sum: UInt32 = 0
        for t in file.tensors {
            _ = try? file.withUnsafeBytes(of: t) { raw in
                precondition(raw.count == t.byteCount, "tensor \(t.name): \(raw.count) bytes given for \(t.byteCount)")
                for b in raw { sum &+= UInt32(b) }
            }
            if t.dtype == .f32 {
                let floats = try? file.floats(t.name)
                precondition(floats == nil || floats!.count == t.elementCount, "tensor \(t.name): wrong float count")
            }
        }
        _ = try? file.verifyChecksum()
        _ = file.storedChecksum
        withExtendedLifetime(sum) {}
    }
}
