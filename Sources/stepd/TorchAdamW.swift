import StepHTTP
import ArgumentParser
import Foundation

/// bench/torch_adamw.py kept running for a whole benchmark, so torch can be measured inside each
/// round instead of once after all of ours (one line out, one JSON line back per measurement).
final class TorchAdamW {
    private let process = Process()
    private let input = Pipe(), output = Pipe()
    private var pending = Data()
    private(set) var version = "?"

    init(python: String, script: String) throws {
        process.executableURL = executableURL(python)
        process.arguments = [script]
        process.standardInput = input
        process.standardOutput = output
        // A script that dies (no torch, say) must give an error here, not a SIGPIPE that ends the run.
        signal(SIGPIPE, SIG_IGN)
        try process.run()
    }

    /// Median seconds per `opt.step()` (after `clip_grad_norm_` with `clip`) over about `seconds` of steps.
    func secondsPerStep(params: Int, threads: Int, seconds: Double, clip: Bool) throws -> Double {
        do {
            try input.fileHandleForWriting.write(contentsOf: Data("\(params) \(threads) \(seconds)\(clip ? " clip" : "")\n".utf8))
        } catch {
            throw ValidationError("bench/torch_adamw.py is not reading its input (\(error)); is torch installed for that Python?")
        }
        let line = try readLine()
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let s = object["seconds_per_step"] as? Double else {
            throw ValidationError("bench/torch_adamw.py answered \(line.debugDescription), expected a JSON object with seconds_per_step")
        }
        version = object["torch"] as? String ?? version
        return s
    }

    func stop() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    private func readLine() throws -> String {
        while true {
            if let nl = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[pending.startIndex..<nl], as: UTF8.self)
                pending = Data(pending[(nl + 1)...])
                return line
            }
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty {
                throw ValidationError("bench/torch_adamw.py exited (status \(process.isRunning ? "running" : String(process.terminationStatus))); is torch installed for that Python?")
            }
            pending.append(chunk)
        }
    }
}
