import StepHTTP
import ArgumentParser
import Foundation

/// bench/torch_optim.py kept running for a whole benchmark, so torch can be measured inside each
/// round instead of once after all of ours (one line out, one JSON line back per request).
final class TorchOptim {
    private let process = Process()
    private let input = Pipe(), output = Pipe()
    private var pending = Data()
    private(set) var version = "?"
    static let script = "bench/torch_optim.py"

    init(python: String, script: String) throws {
        process.executableURL = executableURL(python)
        process.arguments = [script]
        process.standardInput = input
        process.standardOutput = output
        // A script that dies (no torch, say) must give an error here, not a SIGPIPE that ends the run.
        signal(SIGPIPE, SIG_IGN)
        try process.run()
    }

    /// The paths this torch runs `optimizer` on, of `forloop` (foreach=False), `foreach` and
    /// `fused`, in that order.
    func paths(optimizer: String) throws -> [String] {
        let object = try request("paths \(optimizer)")
        guard let paths = object["paths"] as? [String] else {
            throw ValidationError("\(Self.script) answered \(object) to `paths \(optimizer)`, expected a list of paths")
        }
        return paths
    }

    /// Median seconds per `opt.step()` (after `clip_grad_norm_` with `clip`) over about `seconds`
    /// of steps, of `optimizer` on `path` constructed with `config` (a JSON object on one line),
    /// on one tensor of `shape` (its `params` elements in one vector if nil).
    func secondsPerStep(optimizer: String, path: String, config: String, params: Int, threads: Int,
                        seconds: Double, clip: Bool, shape: [Int]? = nil) throws -> Double {
        let shapeWord = shape.map { " shape=" + $0.map(String.init).joined(separator: "x") } ?? ""
        let object = try request("\(params) \(threads) \(seconds) \(optimizer) \(path)\(clip ? " clip" : "")\(shapeWord) \(config)")
        guard let s = object["seconds_per_step"] as? Double else {
            throw ValidationError("\(Self.script) answered \(object) for \(optimizer) \(path), expected seconds_per_step")
        }
        version = object["torch"] as? String ?? version
        return s
    }

    /// Closes the script's input, which ends it, and waits for it.
    func stop() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    private func request(_ line: String) throws -> [String: Any] {
        do {
            try input.fileHandleForWriting.write(contentsOf: Data((line + "\n").utf8))
        } catch {
            throw ValidationError("\(Self.script) is not reading its input (\(error)); is torch installed for that Python?")
        }
        let answer = try readLine()
        guard let object = try? JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any] else {
            throw ValidationError("\(Self.script) answered \(answer.debugDescription), expected a JSON object")
        }
        if let error = object["error"] as? String { throw ValidationError("\(Self.script): \(error)") }
        return object
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
                throw ValidationError("\(Self.script) exited (status \(process.isRunning ? "running" : String(process.terminationStatus))); is torch installed for that Python?")
            }
            pending.append(chunk)
        }
    }
}
