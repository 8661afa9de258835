import Foundation
import Testing
@testable import StepStore
import StepTensors
import StepTensorsTesting

/// Figures for the durability note, not pass/fail checks: run with STEPD_BENCH=1 in a release
/// build (`swift test -c release --filter StoreBenchmarks`). STEPD_BENCH_DIR picks the disk.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["STEPD_BENCH"] == "1"), .serialized)
struct StoreBenchmarks {
    func seconds(_ body: () throws -> Void) rethrows -> Double {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    }

    /// A 50M-parameter AdamW session's tensors: params, exp_avg, exp_avg_sq (600 MB).
    @Test func snapshotWriteAndRestoreOf50MParameterAdamW() throws {
        let n = 50_000_000
        let roles = ["params", "exp_avg", "exp_avg_sq"]
        let buffers = roles.map { _ in UnsafeMutableBufferPointer<Float>.allocate(capacity: n) }
        defer { buffers.forEach { $0.deallocate() } }
        for (k, b) in buffers.enumerated() { for i in 0..<n { b[i] = Float(i % 1000) * 0.001 + Float(k) } }
        let base = ProcessInfo.processInfo.environment["STEPD_BENCH_DIR"] ?? NSTemporaryDirectory()
        let dir = "\(base)/stepstore-bench-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = SnapshotDirectory(dataDirectory: dir)
        let writer = try SafetensorsWriter(
            tensors: zip(roles, buffers).map { SafetensorsWriter.Tensor(name: "w.\($0)", shape: [n], floats: UnsafeBufferPointer($1)) },
            metadata: ["step": "1"])
        var entry: SnapshotEntry?
        let write = try seconds { entry = try store.write(session: "bench", step: 1, writer).entry }
        let dest = UnsafeMutableRawBufferPointer.allocate(byteCount: n * 4, alignment: 64)
        defer { dest.deallocate() }
        var file: SafetensorsFile?
        let verify = seconds { file = store.newestValid(session: "bench").value }
        let loaded = try #require(file)
        let copy = try seconds { for t in loaded.tensors { try loaded.copyBytes(of: t, into: dest) } }
        let mb = Double(entry!.byteCount) / 1e6
        print(String(format: "snapshot write %.0f MB: %.2f s (%.0f MB/s incl. CRC + fsync); restore: open + verify %.2f s, copy into buffers %.2f s",
                     mb, write, mb / write, verify, copy))
    }
}
