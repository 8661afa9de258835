import StepHTTP
import ArgumentParser
import Foundation
import StepKernels

/// `stepd bench`: kernel, HTTP and snapshot figures, each next to a yardstick measured in the
/// same run, so the ratio means something on a shared, noisy machine.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark the optimizer kernels against a memory-traffic baseline and torch (kernel), Muon against torch (muon), the HTTP path (http), or snapshots (snapshot).",
        subcommands: [KernelBench.self, MuonBench.self, HTTPBench.self, SnapshotBench.self],
        defaultSubcommand: KernelBench.self)
}

/// Median seconds per call of `body` over repeated calls for about `budget` seconds.
func timed(_ budget: Double, _ body: () -> Void) -> Double {
    body()
    var samples: [Double] = []
    let start = DispatchTime.now().uptimeNanoseconds
    repeat {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    } while Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 < budget || samples.count < 3
    return samples.sorted()[samples.count / 2]
}

func fmt(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
