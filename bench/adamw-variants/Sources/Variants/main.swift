// Which memory-access pattern moves an AdamW step's 28 bytes per parameter fastest? Each variant
// runs the same formula as stepd's kernel (AdamW, no amsgrad, with the update/param statistics
// unless it says otherwise) over the same buffers; variants alternate one step at a time for
// ROUNDS rounds, and each is reported as the median of its per-round speed relative to the first
// variant given. Interleaving step by step is what makes a 2-3% difference visible on a machine
// whose speed drifts by 25% within minutes.
//
//     swift run -c release --package-path bench/adamw-variants adamw-variants PARAMS THREADS ROUNDS VARIANT[:DISTANCE]...
//     swift run -c release --package-path bench/adamw-variants adamw-variants 50000000 2 40 plain prefetch:2048 \
//         prefetch-line:2048 prefetch-line:1024 blocks:1024 blocks:4096 nontemporal no-stats plain
//
// Variants: plain (stepd's loop); prefetch:D (each stream D bytes ahead, every 8 lanes);
// prefetch-line:D (16-lane unroll, once per cache line); blocks:N (prefetch each stream's next
// N-float block in turn, then compute the block); nontemporal (streaming stores); no-stats.
import CVariants
import Dispatch
import Foundation

typealias Lanes = SIMD8<Float>

struct Rule {
    let decay: Float = 1 - 1e-5, beta2: Float = 0.999, oneMinusBeta1: Float = 0.1, oneMinusBeta2: Float = 0.001
    let inverseBias2Sqrt: Float = 3, eps: Float = 1e-8, negStepSize: Float = -1e-3

    @inline(__always) func lanes(_ p: inout Lanes, _ g: Lanes, _ m: inout Lanes, _ v: inout Lanes) {
        p = p * decay
        m = m + oneMinusBeta1 * (g - m)
        v = v * beta2
        v = v + oneMinusBeta2 * g * g
        p = p + negStepSize * m / (variants_sqrt8(v) * inverseBias2Sqrt + eps)
    }
}

struct Buffers { let p: UnsafeMutableRawPointer, g: UnsafeMutableRawPointer, m: UnsafeMutableRawPointer, v: UnsafeMutableRawPointer }

enum Variant {
    case plain, noStats, nontemporal, prefetch(Int), prefetchLine(Int), blocks(Int)

    init(_ s: Substring) {
        let parts = s.split(separator: ":")
        let d = parts.count > 1 ? Int(parts[1])! : 0
        switch parts[0] {
        case "plain": self = .plain
        case "no-stats": self = .noStats
        case "nontemporal": self = .nontemporal
        case "prefetch": self = .prefetch(d)
        case "prefetch-line": self = .prefetchLine(d)
        case "blocks": self = .blocks(d)
        default: fatalError("unknown variant \(s)")
        }
    }

    @inline(__always) func eight(_ k: Rule, _ b: Buffers, _ o: Int, _ su: inout Lanes, _ sp: inout Lanes, stats: Bool = true, nt: Bool = false) {
        let old = b.p.loadUnaligned(fromByteOffset: o, as: Lanes.self)
        var p = old, m = b.m.loadUnaligned(fromByteOffset: o, as: Lanes.self), v = b.v.loadUnaligned(fromByteOffset: o, as: Lanes.self)
        k.lanes(&p, b.g.loadUnaligned(fromByteOffset: o, as: Lanes.self), &m, &v)
        if nt {
            variants_nt_store(p, b.p + o); variants_nt_store(m, b.m + o); variants_nt_store(v, b.v + o)
        } else {
            b.p.storeBytes(of: p, toByteOffset: o, as: Lanes.self)
            b.m.storeBytes(of: m, toByteOffset: o, as: Lanes.self)
            b.v.storeBytes(of: v, toByteOffset: o, as: Lanes.self)
        }
        if stats { let d = p - old; su += d * d; sp += p * p }
    }

    func run(_ k: Rule, _ b: Buffers, _ r: Range<Int>) -> Float {
        var su = Lanes(), sp = Lanes()
        var i = r.lowerBound
        let end = r.upperBound
        switch self {
        case .plain: while i + 8 <= end { eight(k, b, i * 4, &su, &sp); i += 8 }
        case .noStats: while i + 8 <= end { eight(k, b, i * 4, &su, &sp, stats: false); i += 8 }
        case .nontemporal: while i + 8 <= end { eight(k, b, i * 4, &su, &sp, nt: true); i += 8 }
        case .prefetch(let d):
            while i + 8 <= end {
                let a = i * 4 + d
                variants_prefetch(b.p + a); variants_prefetch(b.g + a); variants_prefetch(b.m + a); variants_prefetch(b.v + a)
                eight(k, b, i * 4, &su, &sp)
                i += 8
            }
        case .prefetchLine(let d):
            while i + 16 <= end {
                let a = i * 4 + d
                variants_prefetch(b.p + a); variants_prefetch(b.g + a); variants_prefetch(b.m + a); variants_prefetch(b.v + a)
                eight(k, b, i * 4, &su, &sp)
                eight(k, b, i * 4 + 32, &su, &sp)
                i += 16
            }
        case .blocks(let n):
            while i + n <= end {
                for s in [b.g, b.p, b.m, b.v] {
                    var c = 0
                    while c < n * 4 { variants_prefetch(s + (i + n) * 4 + c); c += 64 }
                }
                var j = i
                while j < i + n { eight(k, b, j * 4, &su, &sp); j += 8 }
                i += n
            }
        }
        return (su + sp).sum()
    }
}

func buffer(_ n: Int, _ x: Float) -> UnsafeMutableRawPointer {
    let p = UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 64)
    p.bindMemory(to: Float.self, capacity: n).initialize(repeating: x, count: n)
    return p
}

let args = CommandLine.arguments
guard args.count >= 5, let n = Int(args[1]), let threads = Int(args[2]), let rounds = Int(args[3]) else {
    print("usage: adamw-variants PARAMS THREADS ROUNDS VARIANT[:DISTANCE]... (see main.swift)")
    exit(2)
}
let names = Array(args[4...])
let variants = names.map { Variant(Substring($0)) }
let b = Buffers(p: buffer(n, 0.5), g: buffer(n, 0.01), m: buffer(n, 0), v: buffer(n, 0))
var times = [[Double]](repeating: [], count: variants.count)
for _ in 0..<rounds {
    for (j, variant) in variants.enumerated() {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let per = n / threads / 16 * 16
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            _ = variant.run(Rule(), b, (t * per)..<(t == threads - 1 ? n : (t + 1) * per))
        }
        times[j].append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
}
func median(_ x: [Double]) -> Double { x.sorted()[x.count / 2] }
for (j, name) in names.enumerated() {
    let relative = zip(times[0], times[j]).map { $0 / $1 }
    print(name.padding(toLength: 20, withPad: " ", startingAt: 0)
          + String(format: "%.3f Gparam/s   %.3fx of %@", Double(n) / median(times[j]) / 1e9, median(relative), names[0]))
}
