import StepHTTP
import ArgumentParser
import Foundation
import StepKernels

extension InstructionSet: ExpressibleByArgument {}

/// `stepd bench kernel`: AdamW steps next to a plain memory-traffic loop and, with
/// `--torch-python`, torch's fused AdamW. The machines we run on drift by ±25% within minutes,
/// so every contender is measured once per round, rounds alternate, and the ratios are taken
/// within each round (then their median and range are printed).
struct KernelBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kernel", abstract: "AdamW steps at 1M, 10M and 50M parameters on 1 and 2 threads.")

    @Option(parsing: .upToNextOption, help: "Parameter counts.")
    var params: [Int] = [1_000_000, 10_000_000, 50_000_000]

    @Option(parsing: .upToNextOption, help: "Thread counts.")
    var threads: [Int] = [1, 2]

    @Option(parsing: .upToNextOption, help: "Compiled copies of the kernel to run: portable, avx2 (default: every one this CPU runs).")
    var isa: [InstructionSet] = InstructionSet.runnable

    @Option(help: "Rounds per size and thread count; each round measures every contender once.")
    var rounds = 5

    @Option(help: "Seconds per measurement (after a warm-up step).")
    var seconds = 0.4

    @Flag(help: "Measure the usual training step instead of the bare update: the gradient norm, then the update clipped to norm 1 (torch: clip_grad_norm_ then step). stepd folds the clip into the update; torch rewrites the gradients.")
    var clip = false

    @Flag(help: "One JSON object per line.")
    var json = false

    @Option(help: "A Python with torch: also measure torch.optim.AdamW(fused=True) (bench/torch_adamw.py) in every round.")
    var torchPython: String?

    func validate() throws {
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1, got \(rounds)") }
        guard let bad = isa.first(where: { !InstructionSet.runnable.contains($0) }) else { return }
        throw ValidationError("--isa \(bad): this CPU runs only \(InstructionSet.runnable.map(\.rawValue).joined(separator: ", "))")
    }

    func run() throws {
        let torch = try torchPython.map { try TorchAdamW(python: $0, script: Self.repository.appendingPathComponent("bench/torch_adamw.py").path) }
        defer { torch?.stop() }
        if !json {
            print("kernel               params     threads  Gparam/s (range)        GB/s    baseline GB/s  of baseline     vs torch")
        }
        for n in params {
            let g = AlignedBuffer(count: n, filledWith: 0.01)
            let p = AlignedBuffer(count: n, filledWith: 0.5)
            let m = AlignedBuffer(count: n), v = AlignedBuffer(count: n)
            for t in threads {
                let parallel = Parallel(threads: t)
                var step = 0
                var baseline: [Double] = [], torchSeconds: [Double] = []
                var kernelSeconds = [InstructionSet: [Double]]()
                for _ in 0..<rounds {
                    baseline.append(timed(seconds) {
                        parallel.forEachRange(count: n) { r in
                            MemoryTraffic.run(grads: g.pointer, params: p.pointer, expAvg: m.pointer, expAvgSq: v.pointer, range: r)
                        }
                    })
                    for set in isa {
                        kernelSeconds[set, default: []].append(timed(seconds) {
                            step += 1
                            var scale: Float = 1
                            if clip {
                                // As Session does: norm pass, then the coefficient torch's clip_grad_norm_ uses.
                                let norm = GradientNorm.sumOfSquares(g.pointer, count: n, parallel: parallel, on: set).squareRoot()
                                scale = Float(min(1, 1 / (norm + 1e-6)))
                            }
                            let k = LaneRule.adamW(AdamW(lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, step: step))
                            let buffers = LaneBuffers(params: p.pointer, grads: g.pointer, state: [m.pointer, v.pointer])
                            parallel.forEachRange(count: n) { r in
                                _ = k.update(buffers, gradScale: scale, range: r, on: set)
                            }
                        })
                    }
                    if let torch { torchSeconds.append(try torch.secondsPerStep(params: n, threads: t, seconds: seconds, clip: clip)) }
                }
                for set in isa {
                    let row = BenchRow(name: "adamw\(clip ? "+clip" : "") \(set)", params: n, threads: t, seconds: kernelSeconds[set]!, baseline: baseline,
                                       torch: torchSeconds.isEmpty ? nil : torchSeconds)
                    print(json ? row.json(["optimizer": "\"adamw\"", "isa": "\"\(set)\"", "clip": "\(clip)"]) : row.text)
                }
                if let torch {
                    let row = BenchRow(name: clip ? "torch clip+fused" : "torch fused", params: n, threads: t, seconds: torchSeconds, baseline: baseline, torch: nil)
                    print(json ? row.json(["optimizer": "\"torch_adamw_fused\"", "clip": "\(clip)", "torch": "\"\(torch.version)\""]) : row.text)
                }
            }
        }
    }

    /// The checkout this binary was built from (bench/ lives there).
    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
}

/// One contender's rounds at one size and thread count, with the same rounds' baseline (and
/// torch) times; ratios are per round, then summarised.
struct BenchRow {
    let name: String
    let params: Int
    let threads: Int
    let seconds: [Double]
    let baseline: [Double]
    let torch: [Double]?

    var bytes: Double { Double(params) * 28 }
    var gparams: [Double] { seconds.map { Double(params) / $0 / 1e9 } }
    /// Kernel bandwidth over baseline bandwidth, per round.
    var ofBaseline: [Double] { zip(baseline, seconds).map { $0 / $1 } }
    /// Speed-up over torch, per round.
    var vsTorch: [Double]? { torch.map { zip($0, seconds).map { $0 / $1 } } }

    var text: String {
        let range = "\(fmt(gparams.min()!, 2))–\(fmt(gparams.max()!, 2))"
        let base = "\(fmt(100 * median(ofBaseline), 0))% (\(fmt(100 * ofBaseline.min()!, 0))–\(fmt(100 * ofBaseline.max()!, 0)))"
        let vs = vsTorch.map { "\(fmt(median($0), 2))x (\(fmt($0.min()!, 2))–\(fmt($0.max()!, 2)))" } ?? ""
        return name.padding(toLength: 21, withPad: " ", startingAt: 0)
            + String(params).padding(toLength: 11, withPad: " ", startingAt: 0)
            + String(threads).padding(toLength: 9, withPad: " ", startingAt: 0)
            + "\(fmt(median(gparams), 3)) (\(range))".padding(toLength: 24, withPad: " ", startingAt: 0)
            + fmt(bytes / median(seconds) / 1e9, 2).padding(toLength: 8, withPad: " ", startingAt: 0)
            + fmt(bytes / median(baseline) / 1e9, 2).padding(toLength: 15, withPad: " ", startingAt: 0)
            + base.padding(toLength: 16, withPad: " ", startingAt: 0) + vs
    }

    /// The issue's fields (`optimizer, params, threads, seconds_per_step, gparams_per_s,
    /// gbytes_per_s, baseline_gbytes_per_s`), medians over rounds, then the ranges and ratios.
    func json(_ leading: KeyValuePairs<String, String>) -> String {
        var fields: [(String, String)] = leading.map { ($0.key, $0.value) }
        fields += [
            ("params", "\(params)"), ("threads", "\(threads)"), ("rounds", "\(seconds.count)"),
            ("seconds_per_step", fmt(median(seconds), 6)), ("gparams_per_s", fmt(median(gparams), 3)),
            ("gbytes_per_s", fmt(bytes / median(seconds) / 1e9, 2)), ("baseline_gbytes_per_s", fmt(bytes / median(baseline) / 1e9, 2)),
            ("gparams_per_s_min", fmt(gparams.min()!, 3)), ("gparams_per_s_max", fmt(gparams.max()!, 3)),
            ("of_baseline", fmt(median(ofBaseline), 3)),
        ]
        if let vs = vsTorch {
            fields += [("vs_torch", fmt(median(vs), 3)), ("vs_torch_min", fmt(vs.min()!, 3)), ("vs_torch_max", fmt(vs.max()!, 3))]
        }
        return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
    }
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
