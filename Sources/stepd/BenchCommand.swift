import ArgumentParser
import Foundation
import StepKernels

/// `stepd bench`: AdamW kernel throughput next to a plain memory-traffic loop measured in the
/// same run, so the ratio means something on a shared, noisy machine.
extension InstructionSet: ExpressibleByArgument {}

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark the AdamW kernel against a memory-traffic baseline (kernel), or the HTTP path (http).",
        subcommands: [KernelBench.self, HTTPBench.self, SnapshotBench.self],
        defaultSubcommand: KernelBench.self)
}

struct KernelBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kernel", abstract: "AdamW steps at 1M, 10M and 50M parameters on 1 and 2 threads.")

    @Option(parsing: .upToNextOption, help: "Parameter counts.")
    var params: [Int] = [1_000_000, 10_000_000, 50_000_000]

    @Option(parsing: .upToNextOption, help: "Thread counts.")
    var threads: [Int] = [1, 2]

    @Option(parsing: .upToNextOption, help: "Compiled copies of the kernel to run: portable, avx2 (default: every one this CPU runs).")
    var isa: [InstructionSet] = InstructionSet.runnable

    @Option(help: "Seconds to spend per measurement (after a warm-up step).")
    var seconds: Double = 1.5

    @Flag(help: "One JSON object per line.")
    var json = false

    @Option(help: "A Python with torch: also run bench/torch_adamw.py (torch.optim.AdamW(fused=True)) at each size, right after stepd's rows.")
    var torchPython: String?

    func run() throws {
        if !json {
            print("optimizer  isa       params      threads  s/step      Gparam/s  GB/s    baseline GB/s  ratio")
        }
        for n in params {
            let g = AlignedBuffer(count: n, filledWith: 0.01)
            let p = AlignedBuffer(count: n, filledWith: 0.5)
            let m = AlignedBuffer(count: n), v = AlignedBuffer(count: n)
            for t in threads {
                let parallel = Parallel(threads: t)
                let baseline = timed(seconds) {
                    parallel.forEachRange(count: n) { r in
                        MemoryTraffic.readFourWriteThree(g.pointer, p.pointer, m.pointer, v.pointer, r)
                    }
                }
                for set in isa {
                    var step = 0
                    let kernel = timed(seconds) {
                        step += 1
                        let k = AdamW(lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, step: step)
                        parallel.forEachRange(count: n) { r in
                            _ = k.update(params: p.pointer, grads: g.pointer, expAvg: m.pointer, expAvgSq: v.pointer,
                                         maxExpAvgSq: nil, gradScale: 1, range: r, on: set)
                        }
                    }
                    let bytes = Double(n) * 28
                    let row: [(String, String)] = [
                        ("optimizer", "\"adamw\""), ("isa", "\"\(set)\""), ("params", "\(n)"), ("threads", "\(t)"),
                        ("seconds_per_step", fmt(kernel, 6)), ("gparams_per_s", fmt(Double(n) / kernel / 1e9, 3)),
                        ("gbytes_per_s", fmt(bytes / kernel / 1e9, 2)), ("baseline_gbytes_per_s", fmt(bytes / baseline / 1e9, 2)),
                    ]
                    if json {
                        print("{" + row.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}")
                    } else {
                        print(String(format: "adamw      %-9@ %-11d %-8d %-11.6f %-9.3f %-7.2f %-14.2f %.0f%%", set.rawValue, n, t, kernel,
                                     Double(n) / kernel / 1e9, bytes / kernel / 1e9, bytes / baseline / 1e9, 100 * baseline / kernel))
                    }
                }
            }
            if let torchPython {
                let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                    .appendingPathComponent("bench/torch_adamw.py").path
                let out = try runProcess(torchPython, [script, "--params", String(n), "--threads"] + threads.map(String.init) + ["--seconds", String(seconds)])
                print(out.trimmingCharacters(in: .whitespacesAndNewlines))
            }
        }
    }
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

/// The bytes an AdamW step must move and nothing else: read g, p, m, v; write p, m, v.
enum MemoryTraffic {
    static func readFourWriteThree(_ g: UnsafeMutablePointer<Float>, _ p: UnsafeMutablePointer<Float>,
                                   _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>, _ r: Range<Int>) {
        let G = UnsafeRawPointer(g), P = UnsafeMutableRawPointer(p), M = UnsafeMutableRawPointer(m), V = UnsafeMutableRawPointer(v)
        var i = r.lowerBound
        while i + 8 <= r.upperBound {
            let o = i * 4
            let gv = G.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
            P.storeBytes(of: P.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self) + gv, toByteOffset: o, as: SIMD8<Float>.self)
            M.storeBytes(of: M.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self) + gv, toByteOffset: o, as: SIMD8<Float>.self)
            V.storeBytes(of: V.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self) + gv, toByteOffset: o, as: SIMD8<Float>.self)
            i += 8
        }
        while i < r.upperBound { p[i] += g[i]; m[i] += g[i]; v[i] += g[i]; i += 1 }
    }
}

