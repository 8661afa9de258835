import StepHTTP
import ArgumentParser
import Foundation
import StepCore
import StepJSON
import StepKernels
import StepStore

/// `stepd bench snapshot`: how long a snapshot and a restore of a large AdamW session take.
struct SnapshotBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "snapshot", abstract: "Snapshot and restore time of a large AdamW session.")

    @Option(help: "Parameters of the session.") var params = 50_000_000
    @Option(help: "Directory to write into (default: a temporary directory; the disk matters).") var dir: String?
    @Option(help: "Repetitions; the median is printed.") var repeats = 3

    func run() throws {
        let root = dir ?? NSTemporaryDirectory() + "stepd-snapshot-bench-\(getpid())"
        defer { if dir == nil { try? FileManager.default.removeItem(atPath: root) } }
        let body: JSONValue = ["optimizer": ["type": "adamw", "lr": 1e-3],
                               "params": [["name": "w", "shape": [.number(Double(params))], "init": ["type": "normal", "std": 0.02, "seed": 1]]]]
        let (config, inits) = try SessionConfig.parse(body)
        let session = Session(id: "bench", config: config, inits: inits)
        let upload = try session.beginUpload(dtype: .f32)
        try [Float](repeating: 0.001, count: params).withUnsafeBytes { try upload.write($0) }
        _ = try session.submit(upload)
        let manager = SnapshotManager(directory: SnapshotDirectory(dataDirectory: root, keep: 2), defaults: .init(everySteps: 0, intervalSeconds: 0))
        var writes: [Double] = [], restores: [Double] = []
        var bytes = 0
        for _ in 0..<max(1, repeats) {
            let t0 = Date()
            let entry = try manager.snapshotNow(session)
            writes.append(Date().timeIntervalSince(t0))
            bytes = (try? FileManager.default.attributesOfItem(atPath: entry.path)[.size] as? Int) ?? 0
            let t1 = Date()
            let (sessions, problems) = manager.restoreAll(parallel: .machine)
            restores.append(Date().timeIntervalSince(t1))
            guard sessions.count == 1, problems.isEmpty, sessions[0].step == session.step else {
                throw ValidationError("restore failed: \(problems)")
            }
        }
        func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
        print(String(format: "AdamW session, %d params, snapshot file %.0f MB in %@:", params, Double(bytes) / 1e6, root))
        print(String(format: "  snapshot (copy under lock, write, CRC-32C, fsync, rename): %.2f s (%.0f MB/s)", median(writes), Double(bytes) / median(writes) / 1e6))
        print(String(format: "  restore (open, verify CRC, load into buffers):             %.2f s (%.0f MB/s)", median(restores), Double(bytes) / median(restores) / 1e6))
    }
}
