import ArgumentParser
import Foundation
import StepCore
import StepKernels

/// `stepd bench muon`: one Muon step (momentum, five Newton-Schulz iterations on OpenBLAS, the
/// parameter write) on square matrices, against torch.optim.Muon on the same cores, taking
/// turns round by round (the machine's speed drifts, so only interleaved figures compare).
struct MuonBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "muon",
        abstract: "One Muon step on 1024x1024 and 4096x4096 matrices, against torch.optim.Muon.",
        discussion: """
            stepd's step is the session's: `TensorRule.muon` on one matrix (momentum and \
            Nesterov in float32 on the session's threads, Newton-Schulz in float32 on OpenBLAS \
            with ProcessorCount.active threads, the parameter write). torch's is \
            torch.optim.Muon's single-tensor step (Newton-Schulz in bfloat16) with \
            torch.set_num_threads set to the same count. Each round measures stepd, then torch; \
            vs_torch is the median over rounds of torch's seconds per step over stepd's (> 1: \
            stepd is faster). GFLOP/s counts Newton-Schulz's products: per iteration \
            4*m*m*n + 2*m*m*m for an m x n matrix, m <= n.
            """)

    @Option(parsing: .upToNextOption, help: "Matrix sizes (square, n x n).")
    var sizes: [Int] = [1024, 4096]

    @Option(help: "Rounds; each round measures every contender once.")
    var rounds = 3

    @Option(help: "Timed steps per measurement (after one warm-up step); the median is taken.")
    var repeats = 3

    @Option(help: "Sessions stepping at once, each its own matrix (a server's concurrent Muon steps): seconds per step is then the wall time of all their steps over their count, and torch's is its one step.")
    var sessions = 1

    @Flag(help: "One JSON object per line.")
    var json = false

    @Option(help: "A Python with torch >= 2.9 (torch.optim.Muon): also measure torch in every round (bench/torch_optim.py).")
    var torchPython: String?

    func validate() throws {
        guard rounds >= 1, repeats >= 1, sessions >= 1 else { throw ValidationError("--rounds, --repeats and --sessions must be at least 1") }
        if let bad = sizes.first(where: { $0 < 1 }) { throw ValidationError("--sizes \(bad): expected a positive size") }
    }

    func run() throws {
        let torch = try torchPython.map { try TorchOptim(python: $0, script: KernelBench.repository.appendingPathComponent(TorchOptim.script).path) }
        defer { torch?.stop() }
        let blas = try BLAS.load()
        let threads = blas.threads
        let h = MuonOptimizer.defaults
        let config = "{\"lr\": \(h.lr), \"weight_decay\": \(h.weightDecay), \"momentum\": \(h.momentum), \"nesterov\": \(h.nesterov)}"
        if !json {
            print("OpenBLAS kernels: \(blas.coreName) (OPENBLAS_CORETYPE overrides them)")
            print("muon      size         threads  seconds/step (range)        NS GFLOP/s   vs torch (range)")
        }
        for n in sizes {
            let count = n * n
            // A random gradient: on a constant (rank 1) matrix the products run measurably faster
            // than on a real update.
            let g = AlignedBuffer(count: count, filledWith: 0)
            var rng = SplitMix64(seed: 1)
            for i in 0..<count { g.pointer[i] = Float(rng.unit() - 0.5) * 0.02 }
            let owned = (0..<sessions).map { _ in (p: AlignedBuffer(count: count, filledWith: 0.5), buffer: AlignedBuffer(count: count, filledWith: 0)) }
            let tensors = owned.map { TensorBuffers(params: $0.p.pointer, grads: g.pointer, shape: [n, n], state: [$0.buffer.pointer]) }
            let parallel = Parallel(threads: threads)
            var step = 0
            var ours: [Double] = [], theirs: [Double] = []
            for _ in 0..<rounds {
                ours.append(measure(repeats) {
                    step += 1
                    var scalars: [Double] = []
                    guard case .tensor(let rule) = MuonOptimizer.update(h, lr: h.lr, step: step, scalars: &scalars) else { return }
                    // The buffers behind `tensors` must outlive their last use here.
                    withExtendedLifetime((g, owned)) {
                        DispatchQueue.concurrentPerform(iterations: sessions) { k in
                            _ = rule.update(tensors[k], gradScale: 1, parallel: parallel)
                        }
                    }
                } / Double(sessions))
                if let torch {
                    theirs.append(try torch.secondsPerStep(optimizer: "muon", path: "forloop", config: config, params: count,
                                                           threads: threads, seconds: 0, clip: false, shape: [n, n]))
                }
            }
            let flops = Double(h.nsSteps) * (6 * pow(Double(n), 3))
            let s = median(ours)
            let vs = theirs.isEmpty ? nil : zip(theirs, ours).map { $0 / $1 }
            if json {
                var fields: [(String, String)] = [
                    ("bench", "\"muon\""), ("implementation", "\"stepd\""), ("rows", "\(n)"), ("cols", "\(n)"), ("threads", "\(threads)"),
                    ("sessions", "\(sessions)"),
                    ("rounds", "\(rounds)"), ("seconds_per_step", fmt(s, 6)), ("seconds_per_step_min", fmt(ours.min()!, 6)),
                    ("seconds_per_step_max", fmt(ours.max()!, 6)), ("ns_gflops", fmt(flops / s / 1e9, 2)),
                ]
                if let vs {
                    fields += [("torch", "\"\(torch!.version)\""), ("torch_seconds_per_step", fmt(median(theirs), 6)),
                               ("vs_torch", fmt(median(vs), 3)), ("vs_torch_min", fmt(vs.min()!, 3)), ("vs_torch_max", fmt(vs.max()!, 3))]
                }
                print("{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}")
            } else {
                let vsText = vs.map { "\(fmt(median($0), 2))x (\(fmt($0.min()!, 2))–\(fmt($0.max()!, 2))); torch \(fmt(median(theirs), 3)) s" } ?? ""
                print("stepd".padding(toLength: 10, withPad: " ", startingAt: 0)
                      + "\(n)x\(n)".padding(toLength: 13, withPad: " ", startingAt: 0)
                      + "\(threads)".padding(toLength: 9, withPad: " ", startingAt: 0)
                      + "\(fmt(s, 4)) (\(fmt(ours.min()!, 4))–\(fmt(ours.max()!, 4)))".padding(toLength: 28, withPad: " ", startingAt: 0)
                      + fmt(flops / s / 1e9, 1).padding(toLength: 13, withPad: " ", startingAt: 0) + vsText)
            }
        }
    }

    /// Median seconds of `repeats` calls after one warm-up call.
    private func measure(_ repeats: Int, _ body: () -> Void) -> Double {
        body()
        let samples = (0..<repeats).map { _ in
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        }
        return median(samples)
    }
}
