import StepHTTP
import ArgumentParser
import Foundation
import StepCore
import StepJSON
import StepKernels

extension InstructionSet: ExpressibleByArgument {}
extension StateDType: ExpressibleByArgument {}

/// `stepd bench kernel`: optimizer steps next to a plain memory-traffic loop moving the same
/// streams and, with `--torch-python`, torch's implementations of the same optimizer. The
/// machines we run on drift by ±25% within minutes, so every contender is measured once per
/// round, rounds alternate, and the ratios are taken within each round (then their median and
/// range are printed).
struct KernelBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernel",
        abstract: "Optimizer steps at 1M, 10M and 50M parameters on 1 and 2 threads, against a memory-traffic loop and torch.",
        discussion: """
            Each optimizer runs as a session configures it: the descriptor's defaults with \
            weight_decay 0.01 where it has one (and momentum 0.9 for sgd), its state buffers at \
            their initial values, the step counter and carried scalars advancing every step. \
            With --torch-python, torch's (or the reference package's) implementation with the \
            same arguments is measured on every path it has on CPU (foreach=False "forloop", \
            foreach=True "foreach", fused=True "fused"), each once per round; vs torch is the \
            median over rounds of torch's fastest path in that round over stepd.

            Tensor-level optimizers (adafactor, lamb, muon) run on one matrix 1000 wide (n/1000 \
            rows), torch's too; their passes over the tensor (two or three) are not counted in \
            bytes per parameter, which stays what one streaming pass moves.

            Bytes per parameter are what an update must move: read the gradient, the parameter \
            and each state tensor, write the parameter and each state tensor, 4 bytes each \
            (28 for AdamW's two state tensors, 20 for SGD with momentum). GB/s is those bytes \
            over the time per step, for stepd and torch alike (with --clip too, though the norm \
            moves more). The baseline loop reads and writes exactly those streams and nothing \
            else, so "of baseline" is the share of the memory bandwidth the update reaches.

            With --state, the optimizer state is kept in each of the given dtypes (f32, bf16, \
            q8), each measured once per round next to the others; vs f32 is the median over \
            rounds of the float32 kernel's time over this dtype's (same instruction set). Bytes \
            per parameter count 2 bytes per bf16 value and 1 per q8 code (q8's absmax, 4 bytes \
            per 256 values, is left out).
            """)

    @Option(name: .customLong("optimizer"), parsing: .upToNextOption,
            help: "Optimizers to measure (repeatable): \(Optimizers.types.joined(separator: ", ")), or all (all but muon: see bench muon).")
    var optimizers: [String] = ["adamw"]

    @Option(parsing: .upToNextOption, help: "Parameter counts.")
    var params: [Int] = [1_000_000, 10_000_000, 50_000_000]

    @Option(parsing: .upToNextOption, help: "Thread counts.")
    var threads: [Int] = [1, 2]

    @Option(parsing: .upToNextOption, help: "Compiled copies of the kernel to run (default: every one this CPU runs).")
    var isa: [InstructionSet] = InstructionSet.runnable

    @Option(parsing: .upToNextOption, help: "State dtypes to keep the optimizer state in: f32, bf16, q8.")
    var state: [StateDType] = [.f32]

    @Option(help: "Rounds per optimizer, size and thread count; each round measures every contender once.")
    var rounds = 5

    @Option(help: "Seconds per measurement (after a warm-up step).")
    var seconds = 0.4

    @Flag(help: "Measure the usual training step instead of the bare update: the gradient norm, then the update clipped to norm 1 (torch: clip_grad_norm_ then step). stepd folds the clip into the update; torch rewrites the gradients.")
    var clip = false

    @Flag(help: "One JSON object per line.")
    var json = false

    @Option(help: "A Python with torch (and lion-pytorch, schedulefree for lion and schedule_free_adamw): also measure torch's implementation on each of its CPU paths (bench/torch_optim.py) in every round.")
    var torchPython: String?

    /// `--optimizer` with `all` expanded, in the order given, each once. `all` leaves out Muon:
    /// its step is matrix products, not a stream (`stepd bench muon` measures it); name it to
    /// run it here on the same matrices as Adafactor.
    var optimizerTypes: [String] {
        var out: [String] = []
        let all = Optimizers.types.filter { $0 != MuonOptimizer.type }
        for name in optimizers.flatMap({ $0 == "all" ? all : [$0] }) where !out.contains(name) { out.append(name) }
        return out
    }

    func validate() throws {
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1, got \(rounds)") }
        if let bad = optimizers.first(where: { $0 != "all" && Optimizers.named($0) == nil }) {
            throw ValidationError("--optimizer \(bad): expected all or one of \(Optimizers.types.joined(separator: ", "))")
        }
        for type in optimizerTypes {
            let kind = Optimizers.named(type)!
            if let bad = state.first(where: { !kind.stateDTypes.contains($0) }) {
                throw ValidationError("--state \(bad.rawValue): optimizer \(type) keeps its state in \(kind.stateDTypes.map(\.rawValue).joined(separator: ", ")) only")
            }
        }
        guard let bad = isa.first(where: { !InstructionSet.runnable.contains($0) }) else { return }
        throw ValidationError("--isa \(bad): this CPU runs only \(InstructionSet.runnable.map(\.rawValue).joined(separator: ", "))")
    }

    func run() throws {
        let torch = try torchPython.map { try TorchOptim(python: $0, script: Self.repository.appendingPathComponent(TorchOptim.script).path) }
        defer { torch?.stop() }
        if !json {
            print("kernel".padding(toLength: BenchRow.nameWidth, withPad: " ", startingAt: 0)
                  + "params     threads  Gparam/s (range)        B/param GB/s    baseline GB/s  of baseline     vs torch (fastest path)")
        }
        for type in optimizerTypes {
            let subject = try BenchSubject(Optimizers.named(type)!)
            let paths = try torch?.paths(optimizer: type) ?? []
            for n in params {
                try measure(subject, n: n, torch: torch, paths: paths)
            }
        }
    }

    private func measure(_ subject: BenchSubject, n: Int, torch: TorchOptim?, paths: [String]) throws {
        let g = AlignedBuffer(count: n, filledWith: 0.01)
        let p = AlignedBuffer(count: n, filledWith: 0.5)
        let shape = subject.shape(n)
        // Only the state a session would allocate, in its shape for this tensor, at its initial
        // values; unused slots stay nil.
        var tensorState = [AlignedBuffer?](repeating: nil, count: subject.slotCount)
        for s in subject.state {
            if let count = s.count(shape) { tensorState[s.slot] = AlignedBuffer(count: count, filledWith: s.initial) }
        }
        // The baseline streams the per-element state only (Adafactor's rows and columns are not streams).
        let used = tensorState.compactMap { $0 }.filter { $0.count == n }.map(\.pointer)
        let whole = TensorBuffers(params: p.pointer, grads: g.pointer, shape: shape, state: tensorState.map { $0?.pointer })
        // Lane kernels keep their state in each dtype asked for (tensor rules keep float32).
        let stores = subject.tensorLevel ? [:] : Dictionary(uniqueKeysWithValues: state.map { ($0, BenchState($0, subject: subject, count: n)) })
        // One session: its step counter and scalars carry across thread counts and instruction sets.
        let nextRule = subject.stepper()
        for t in threads {
            let parallel = Parallel(threads: t)
            var baseline: [Double] = []
            var kernelSeconds = [String: [Double]]()
            var torchSeconds = [String: [Double]]()
            for _ in 0..<rounds {
                baseline.append(timed(seconds) {
                    parallel.forEachRange(count: n) { r in
                        StreamTraffic.run(grads: g.pointer, params: p.pointer, state: used, range: r)
                    }
                })
                for set in isa {
                    for dtype in state {
                        let buffers = stores[dtype]?.laneBuffers(params: p.pointer, grads: g.pointer)
                        kernelSeconds["\(set) \(dtype)", default: []].append(timed(seconds) {
                            let update = nextRule()
                            var scale: Float = 1
                            if clip {
                                // As Session does: norm pass, then the coefficient torch's clip_grad_norm_ uses.
                                let norm = GradientNorm.sumOfSquares(g.pointer, count: n, parallel: parallel, on: set).squareRoot()
                                scale = Float(min(1, 1 / (norm + 1e-6)))
                            }
                            switch update {
                            case .lanes(let rule):
                                // q8 passes start on block boundaries.
                                parallel.forEachRange(count: n, granule: dtype == .q8 ? QuantizationMap.blockSize : Parallel.granule) { r in
                                    _ = rule.update(buffers!, gradScale: scale, range: r, on: set)
                                }
                            case .tensor(let rule):
                                _ = rule.update(whole, gradScale: scale, parallel: parallel, on: set)
                            }
                        })
                    }
                }
                if let torch {
                    for path in paths {
                        torchSeconds[path, default: []].append(try torch.secondsPerStep(
                            optimizer: subject.type, path: path, config: subject.config, params: n, threads: t, seconds: seconds, clip: clip,
                            shape: subject.tensorLevel ? shape : nil))
                    }
                }
            }
            // Per round, torch's fastest path.
            let fastest: [String]? = paths.isEmpty ? nil : (0..<rounds).map { i in paths.min { torchSeconds[$0]![i] < torchSeconds[$1]![i] }! }
            let torchBest = fastest.map { f in f.indices.map { torchSeconds[f[$0]]![$0] } }
            let name = subject.type + (clip ? "+clip" : "")
            let common: KeyValuePairs<String, String> = ["optimizer": "\"\(subject.type)\"", "clip": "\(clip)", "state_tensors": "\(subject.state.count)"]
            for set in isa {
                for dtype in state {
                    let mine = kernelSeconds["\(set) \(dtype)"]!
                    let label = state == [.f32] ? "\(name) \(set)" : "\(name) \(dtype) \(set)"
                    var row = BenchRow(name: label, params: n, threads: t, bytesPerParam: subject.bytesPerParam(dtype), seconds: mine,
                                       baseline: baseline, torch: torchBest, torchFastest: fastest)
                    var extra = [("implementation", "\"stepd\""), ("isa", "\"\(set)\""), ("state", "\"\(dtype)\"")]
                    if let f32 = kernelSeconds["\(set) f32"], dtype != .f32 {
                        let ratios = zip(f32, mine).map { $0 / $1 }
                        extra.append(("vs_f32", fmt(median(ratios), 3)))
                        extra.append(("vs_f32_min", fmt(ratios.min()!, 3)))
                        extra.append(("vs_f32_max", fmt(ratios.max()!, 3)))
                        if torchBest == nil { row.note = "vs f32 \(fmt(median(ratios), 2))x (\(fmt(ratios.min()!, 2))–\(fmt(ratios.max()!, 2)))" }
                    }
                    for path in paths {
                        extra.append(("vs_torch_\(path)", fmt(median(zip(torchSeconds[path]!, mine).map { $0 / $1 }), 3)))
                    }
                    print(json ? row.json(common, extra) : row.text)
                }
            }
            for path in paths {
                let wins = fastest!.filter { $0 == path }.count
                let row = BenchRow(name: "torch \(name) \(path)", params: n, threads: t, bytesPerParam: subject.bytesPerParam(.f32), seconds: torchSeconds[path]!,
                                   baseline: baseline, torch: nil, torchFastest: nil, note: "fastest in \(wins)/\(rounds)")
                print(json ? row.json(common, [("implementation", "\"torch\""), ("path", "\"\(path)\""), ("torch", "\"\(torch!.version)\""),
                                               ("fastest_rounds", "\(wins)")]) : row.text)
            }
        }
    }

    /// The checkout this binary was built from (bench/ lives there).
    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
}

/// One optimizer configured as the benchmark runs it, with its descriptor's types erased: the
/// arguments torch gets, the state a session allocates, and a way to step it.
struct BenchSubject {
    let type: String
    /// The hyperparameters as one line of JSON, by torch's argument names.
    let config: String
    /// Slots in the kernel's `LaneBuffers`, of which `state` are used.
    let slotCount: Int
    /// Each used state tensor's element count for a parameter of a given shape (nil: not kept).
    let state: [(slot: Int, name: String, initial: Float, count: ([Int]) -> Int?)]
    /// A fresh session's steps: each call gives the next step's update (step 1, 2, ...),
    /// carrying the optimizer's scalars as Session does.
    let stepper: () -> () -> OptimizerUpdate
    /// Whether its update works on whole tensors (then `shape` matters).
    let tensorLevel: Bool
    /// The shape `n` parameters are measured in: one vector for elementwise updates; a matrix
    /// 1000 wide for tensor-level ones (Adafactor factors it, Muon needs it), as a model's
    /// weights are.
    func shape(_ n: Int) -> [Int] { tensorLevel && n % 1000 == 0 ? [n / 1000, 1000] : [n] }

    /// Each slot's q8 map.
    let maps: [QuantizationMap]

    /// Read grads and params, each elementwise state tensor; write params and each such state
    /// tensor (factored state is a rounding error at these sizes).
    func bytesPerParam(_ dtype: StateDType) -> Int {
        4 * 3 + 2 * dtype.elementBytes * state.filter { $0.count([8, 1000]) == 8000 }.count
    }

    init<D: OptimizerDescriptor>(_ d: D.Type) throws {
        var h = D.defaults
        var overrides = JSONObject()
        if h.json["weight_decay"] != nil { overrides["weight_decay"] = .number(0.01) }
        if D.type == SGDOptimizer.type { overrides["momentum"] = .number(0.9) }
        var reader = try JSONObjectReader(.object(overrides), path: "bench")
        try h.read(&reader)
        try reader.finish()
        let fixed = h
        type = D.type
        config = JSONValue.object(h.json).text
        slotCount = D.stateTensors.count
        state = D.usedState([h]).map { s in
            (s.slot, s.name, D.initialValue(of: s.name, fixed), { D.stateShape(s.name, for: $0).map { $0.reduce(1, *) } })
        }
        maps = D.stateTensors.map { $0.map ?? .signed }
        var probe = D.scalars.map(\.initial)
        if case .tensor = D.update(fixed, lr: fixed.lr, step: 1, scalars: &probe) { tensorLevel = true } else { tensorLevel = false }
        stepper = {
            var step = 0
            var scalars = D.scalars.map(\.initial)
            return {
                step += 1
                return D.update(fixed, lr: fixed.lr, step: step, scalars: &scalars)
            }
        }
    }
}

/// One optimizer's state at its initial values, kept as `dtype` over one tensor of `count`
/// elements, as a session lays it out.
final class BenchState {
    let dtype: StateDType
    let buffers: [AlignedBuffer?]
    let piece: StateLayout.Piece
    let maps: [QuantizationMap]

    init(_ dtype: StateDType, subject: BenchSubject, count n: Int) {
        self.dtype = dtype
        maps = subject.maps
        piece = StateLayout.Piece(shape: [n], dtype: dtype)
        var buffers = [AlignedBuffer?](repeating: nil, count: subject.slotCount)
        for s in subject.state {
            let b = AlignedBuffer(uninitializedCount: (piece.byteCount + 3) / 4)
            StateEncoding.fill(s.initial, count: n, as: dtype, into: UnsafeMutableRawPointer(b.pointer),
                               absmax: Self.absmax(b, piece), map: subject.maps[s.slot])
            buffers[s.slot] = b
        }
        self.buffers = buffers
    }

    private static func absmax(_ b: AlignedBuffer, _ piece: StateLayout.Piece) -> UnsafeMutablePointer<Float>? {
        piece.dtype == .q8 ? (UnsafeMutableRawPointer(b.pointer) + piece.absmaxOffset).assumingMemoryBound(to: Float.self) : nil
    }

    func laneBuffers(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>) -> LaneBuffers {
        LaneBuffers(params: params, grads: grads, state: buffers.indices.map { k in
            buffers[k].map { StateSlot(UnsafeMutableRawPointer($0.pointer), absmax: Self.absmax($0, piece), map: maps[k]) }
        }, dtype: dtype)
    }
}

/// The yardstick for memory bandwidth: the streams an update with `state.count` state tensors
/// moves (read g, p and each state; write p and each state) with one add per element. Written
/// out per state count so every pointer stays in a register. It is compiled with this module's
/// flags, not as an AVX2 copy: for two state tensors it measured level with the AVX2
/// `MemoryTraffic` loop (1M-50M parameters, 1 and 2 threads), so the width does not matter here.
enum StreamTraffic {
    static func run(grads g: UnsafePointer<Float>, params p: UnsafeMutablePointer<Float>, state s: [UnsafeMutablePointer<Float>],
                    range r: Range<Int>) {
        var i = r.lowerBound
        switch s.count {
        case 0:
            while i + 8 <= r.upperBound {
                let gv = load(g, i)
                add(p, i, gv)
                i += 8
            }
        case 1:
            let a = s[0]
            while i + 8 <= r.upperBound {
                let gv = load(g, i)
                add(p, i, gv); add(a, i, gv)
                i += 8
            }
        case 2:
            let a = s[0], b = s[1]
            while i + 8 <= r.upperBound {
                let gv = load(g, i)
                add(p, i, gv); add(a, i, gv); add(b, i, gv)
                i += 8
            }
        case 3:
            let a = s[0], b = s[1], c = s[2]
            while i + 8 <= r.upperBound {
                let gv = load(g, i)
                add(p, i, gv); add(a, i, gv); add(b, i, gv); add(c, i, gv)
                i += 8
            }
        default:
            let a = s[0], b = s[1], c = s[2], d = s[3]
            while i + 8 <= r.upperBound {
                let gv = load(g, i)
                add(p, i, gv); add(a, i, gv); add(b, i, gv); add(c, i, gv); add(d, i, gv)
                i += 8
            }
        }
        while i < r.upperBound {
            p[i] += g[i]
            for x in s { x[i] += g[i] }
            i += 1
        }
    }

    @inline(__always)
    private static func load(_ x: UnsafePointer<Float>, _ i: Int) -> SIMD8<Float> {
        UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always)
    private static func add(_ x: UnsafeMutablePointer<Float>, _ i: Int, _ gv: SIMD8<Float>) {
        let raw = UnsafeMutableRawPointer(x + i)
        raw.storeBytes(of: raw.loadUnaligned(as: SIMD8<Float>.self) + gv, as: SIMD8<Float>.self)
    }
}

/// One contender's rounds at one size and thread count, with the same rounds' baseline (and
/// torch's fastest path) times; ratios are per round, then summarised.
struct BenchRow {
    static let nameWidth = 36
    let name: String
    let params: Int
    let threads: Int
    let bytesPerParam: Int
    let seconds: [Double]
    let baseline: [Double]
    let torch: [Double]?
    /// Which torch path was fastest in each round.
    let torchFastest: [String]?
    var note = ""

    var bytes: Double { Double(params) * Double(bytesPerParam) }
    var gparams: [Double] { seconds.map { Double(params) / $0 / 1e9 } }
    /// Kernel bandwidth over baseline bandwidth, per round (both move `bytes`).
    var ofBaseline: [Double] { zip(baseline, seconds).map { $0 / $1 } }
    /// Speed-up over torch, per round.
    var vsTorch: [Double]? { torch.map { zip($0, seconds).map { $0 / $1 } } }
    /// The path fastest in most rounds.
    var usualFastest: String? {
        torchFastest.map { f in
            let seen = f.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            return seen.max { a, b in f.filter { $0 == a }.count < f.filter { $0 == b }.count }!
        }
    }

    var text: String {
        let range = "\(fmt(gparams.min()!, 2))–\(fmt(gparams.max()!, 2))"
        let base = "\(fmt(100 * median(ofBaseline), 0))% (\(fmt(100 * ofBaseline.min()!, 0))–\(fmt(100 * ofBaseline.max()!, 0)))"
        let vs = vsTorch.map { "\(fmt(median($0), 2))x (\(fmt($0.min()!, 2))–\(fmt($0.max()!, 2))) \(usualFastest!)" } ?? note
        return name.padding(toLength: Self.nameWidth, withPad: " ", startingAt: 0)
            + String(params).padding(toLength: 11, withPad: " ", startingAt: 0)
            + String(threads).padding(toLength: 9, withPad: " ", startingAt: 0)
            + "\(fmt(median(gparams), 3)) (\(range))".padding(toLength: 24, withPad: " ", startingAt: 0)
            + String(bytesPerParam).padding(toLength: 8, withPad: " ", startingAt: 0)
            + fmt(bytes / median(seconds) / 1e9, 2).padding(toLength: 8, withPad: " ", startingAt: 0)
            + fmt(bytes / median(baseline) / 1e9, 2).padding(toLength: 15, withPad: " ", startingAt: 0)
            + base.padding(toLength: 16, withPad: " ", startingAt: 0) + vs
    }

    /// The issue's fields (`optimizer, params, threads, seconds_per_step, gparams_per_s,
    /// gbytes_per_s, baseline_gbytes_per_s`), medians over rounds, then the ranges and ratios.
    func json(_ leading: KeyValuePairs<String, String>, _ extra: [(String, String)] = []) -> String {
        var fields: [(String, String)] = leading.map { ($0.key, $0.value) } + extra
        fields += [
            ("params", "\(params)"), ("threads", "\(threads)"), ("rounds", "\(seconds.count)"), ("bytes_per_param", "\(bytesPerParam)"),
            ("seconds_per_step", fmt(median(seconds), 6)), ("gparams_per_s", fmt(median(gparams), 3)),
            ("gbytes_per_s", fmt(bytes / median(seconds) / 1e9, 2)), ("baseline_gbytes_per_s", fmt(bytes / median(baseline) / 1e9, 2)),
            ("gparams_per_s_min", fmt(gparams.min()!, 3)), ("gparams_per_s_max", fmt(gparams.max()!, 3)),
            ("of_baseline", fmt(median(ofBaseline), 3)),
        ]
        if let vs = vsTorch {
            fields += [("vs_torch", fmt(median(vs), 3)), ("vs_torch_min", fmt(vs.min()!, 3)), ("vs_torch_max", fmt(vs.max()!, 3)),
                       ("torch_fastest", "\"\(usualFastest!)\"")]
        }
        return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
    }
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
