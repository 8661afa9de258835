import StepHTTP
import ArgumentParser
import Foundation
import Logging
import StepConformance
import StepConformanceHTTP

/// `stepd conformance PATH...`: replays recorded torch.optim runs at every layer (the session
/// engine, the HTTP API in-process, a real server over a socket; JSON and binary bodies) and
/// compares with the recording. One line per case and layer; cases this build cannot run yet
/// are named with the reason, and only a failure makes the exit code 1.
struct ConformanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conformance",
        abstract: "Replay conformance cases (files, or every *.json in a directory) and compare with PyTorch.")

    @Argument(help: "Conformance files or directories (a directory's subdirectories are not read: name them too).")
    var paths: [String]

    @Option(name: .customLong("layer"),
            help: "Where to replay: library (StepCore), router (the HTTP API in-process), socket (a stepd server on 127.0.0.1); repeat for several (default: all). router and socket run JSON and binary bodies.")
    var layers: [ConformanceLayer] = []

    @Option(help: "Threads for the kernels (results must not depend on it).")
    var threads: Int = 1

    func run() throws {
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = .warning
            return h
        }
        let cases = try ConformanceCase.load(paths: paths)
        let harness = try ConformanceHarness(layers: layers.isEmpty ? ConformanceLayer.allCases : layers, threads: threads)
        defer { harness.stop() }
        let started = Date()
        var runs = 0, failed = 0, notYet = 0
        for c in cases {
            for r in harness.run(c) {
                runs += 1
                print(r.line)
                if r.notYet != nil { notYet += 1 }
                if !r.passed {
                    failed += 1
                    for f in r.failures.dropFirst().prefix(4) { print("  \(f)") }
                }
            }
        }
        let names = harness.layerNames
        print("\(runs - failed - notYet) passed, \(failed) failed, \(notYet) not yet runnable (named above): "
              + "\(cases.count) cases x \(names.count) layers (\(names.joined(separator: ", "))) in "
              + String(format: "%.1f s", Date().timeIntervalSince(started)))
        if failed > 0 { throw ExitCode(1) }
    }
}

extension ConformanceLayer: ExpressibleByArgument {}
