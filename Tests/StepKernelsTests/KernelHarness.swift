import StepKernels

/// Parameters and state buffers after a run, and the kernel's statistics summed over its calls.
struct KernelRun {
    var params: [Float]
    var state: [[Float]]
    var stats = UpdateStats()
}

/// Runs a variant's SIMD kernel, or its scalar reference, over several steps of gradients.
enum KernelHarness {
    /// The SIMD kernel, with each step's range split by `parallel` (or by explicit `splits`), its
    /// state kept as `dtype` (q8 with `maps` per slot; q8 ranges must start on block boundaries).
    static func kernel(_ v: KernelVariant, params: [Float], grads: [[Float]], gradScale: Float = 1,
                       parallel: Parallel = .serial, splits: [Int]? = nil, dtype: StateDType = .f32,
                       maps: [QuantizationMap] = []) -> KernelRun {
        let n = params.count
        let p = AlignedBuffer(params)
        let state = TestState(dtype, count: n, slots: v.stateCount, initial: v.initialState, maps: maps)
        let g = AlignedBuffer(count: n)
        let buffers = state.laneBuffers(params: p.pointer, grads: g.pointer)
        let stats = Locked(UpdateStats())
        for (k, stepGrads) in grads.enumerated() {
            precondition(stepGrads.count == n)
            stepGrads.withUnsafeBufferPointer { src in
                if let base = src.baseAddress { g.pointer.update(from: base, count: n) }
            }
            let rule = v.rule(k + 1)
            if let splits {
                let bounds = [0] + splits.filter { $0 > 0 && $0 < n } + [n]
                for i in 0..<(bounds.count - 1) where bounds[i] < bounds[i + 1] {
                    let s = rule.update(buffers, gradScale: gradScale, range: bounds[i]..<bounds[i + 1], on: v.isa)
                    stats.withValue { $0 = $0 + s }
                }
            } else {
                precondition(dtype != .q8 || parallel.threads == 1, "q8 ranges must start on block boundaries")
                // Ranges finish in any order; the sum is only compared between runs with one split.
                parallel.forEachRange(count: n) { r in
                    let s = rule.update(buffers, gradScale: gradScale, range: r, on: v.isa)
                    stats.withValue { $0 = $0 + s }
                }
            }
        }
        return withExtendedLifetime(state) {
            KernelRun(params: p.array, state: state.floats, stats: stats.withValue { $0 })
        }
    }

    /// The scalar torch formula, element by element; with `dtype` bf16 every state value is
    /// rounded to bfloat16 after each step, and with q8 each step starts from the dequantized
    /// state and ends by requantizing it (`ScalarQuantizer`).
    static func reference(_ v: KernelVariant, params: [Float], grads: [[Float]], gradScale: Float = 1,
                          dtype: StateDType = .f32, maps: [QuantizationMap] = []) -> KernelRun {
        var p = params
        let s0 = v.initialState
        var st = [ScalarState](repeating: ScalarState(s0: s0, s1: s0, s2: s0), count: p.count)
        // Only q8 quantizes: the scalar code search is 256 comparisons per element, which on a
        // million elements in a debug build costs minutes.
        var quantized = dtype != .q8 ? [] : (0..<v.stateCount).map { k in ScalarQuantizer.quantize([Float](repeating: s0, count: p.count), maps[k]) }
        for (k, stepGrads) in grads.enumerated() {
            if dtype == .q8 {
                for slot in 0..<v.stateCount {
                    let values = ScalarQuantizer.dequantize(quantized[slot], maps[slot])
                    for i in 0..<p.count { st[i][slot] = values[i] }
                }
            }
            for i in 0..<p.count { v.reference(k + 1, &p[i], stepGrads[i], &st[i], gradScale) }
            if dtype == .bf16 {
                for i in 0..<p.count { for slot in 0..<3 { st[i][slot] = ScalarQuantizer.roundToBFloat16(st[i][slot]) } }
            }
            if dtype == .q8 {
                for slot in 0..<v.stateCount { quantized[slot] = ScalarQuantizer.quantize(st.map { $0[slot] }, maps[slot]) }
            }
        }
        if dtype == .q8 {
            return KernelRun(params: p, state: (0..<v.stateCount).map { ScalarQuantizer.dequantize(quantized[$0], maps[$0]) })
        }
        let all: [[Float]] = [st.map(\.s0), st.map(\.s1), st.map(\.s2)]
        return KernelRun(params: p, state: Array(all.prefix(v.stateCount)))
    }

    /// Parameters around 1 in magnitude and `steps` steps of gradients of mixed magnitude (the
    /// second step's are small, so exp_avg_sq and friends also shrink). Cached: a million-element
    /// set takes a second to generate in a debug build.
    static func inputs(length n: Int, steps: Int = 3, seed: UInt64 = 1) -> (params: [Float], grads: [[Float]]) {
        let key = "\(n)/\(steps)/\(seed)"
        if let hit = inputCache.withValue({ $0[key] }) { return hit }
        let params = TestRandom.values(count: n, seed: seed, scale: 2)
        let grads = (0..<steps).map { k in
            TestRandom.values(count: n, seed: seed &+ 100 &+ UInt64(k), scale: k == 1 ? 0.01 : 1)
        }
        inputCache.withValue { $0[key] = (params, grads) }
        return (params, grads)
    }

    private static let inputCache = Locked<[String: (params: [Float], grads: [[Float]])]>([:])
}

/// Element-wise comparisons that report the first offending index.
enum FloatComparison {
    /// Kernel and reference differ only by rounding. The kernels compute the last update term as
    /// `(-stepSize * m) / denom` where torch computes `-stepSize * (m / denom)`, and fold the
    /// gradient scale the same way; each such reordering moves a result by at most an ulp or two
    /// of the update, so after a few steps the parameters agree to a few ulps (~1e-7 relative).
    /// 1e-6 relative leaves a margin of about 8 ulps and is still far below any formula mistake
    /// (a missing bias correction or decay changes a value by 1e-3 or more at lr 1e-2); the 1e-7
    /// absolute term covers values that pass near zero, where relative error means nothing.
    static func firstMismatch(_ got: [Float], _ want: [Float], rtol: Double = 1e-6, atol: Double = 1e-7) -> String? {
        guard got.count == want.count else { return "length \(got.count), expected \(want.count)" }
        for i in 0..<got.count {
            let g = Double(got[i]), w = Double(want[i])
            if w.isNaN {
                if !g.isNaN { return "[\(i)] is \(g), expected NaN" }
            } else if w.isInfinite {
                if g != w { return "[\(i)] is \(g), expected \(w)" }
            } else if !(abs(g - w) <= atol + rtol * abs(w)) {
                return "[\(i)] is \(got[i]), expected \(want[i]) (|diff| \(abs(g - w)))"
            }
        }
        return nil
    }

    /// The same number: equal bits, or both NaN (whatever their payload and sign).
    static func sameValue(_ a: Float, _ b: Float) -> Bool {
        a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN)
    }

    /// The first index whose bit patterns differ (so NaN equals NaN and -0 differs from +0).
    static func firstBitDifference(_ a: [Float], _ b: [Float]) -> String? {
        guard a.count == b.count else { return "length \(a.count) vs \(b.count)" }
        for i in 0..<a.count where a[i].bitPattern != b[i].bitPattern {
            return "[\(i)]: \(a[i]) vs \(b[i])"
        }
        return nil
    }
}

extension ScalarState {
    subscript(slot: Int) -> Float {
        get { slot == 0 ? s0 : (slot == 1 ? s1 : s2) }
        set {
            switch slot {
            case 0: s0 = newValue
            case 1: s1 = newValue
            default: s2 = newValue
            }
        }
    }
}

/// State buffers of one dtype for the harness, started at a constant (q8: quantized from it,
/// codes 0 and absmax 0 for zero, as bitsandbytes starts), read back as float32.
final class TestState {
    let dtype: StateDType
    let count: Int
    let slots: [UnsafeMutableRawPointer]
    let absmax: [UnsafeMutablePointer<Float>]
    let maps: [QuantizationMap]

    init(_ dtype: StateDType, count n: Int, slots: Int, initial: Float, maps: [QuantizationMap]) {
        self.dtype = dtype
        count = n
        self.maps = dtype == .q8 ? maps : []
        precondition(dtype != .q8 || maps.count >= slots, "q8 needs a map per slot")
        let blocks = (n + QuantizationMap.blockSize - 1) / QuantizationMap.blockSize
        self.slots = (0..<slots).map { _ in UnsafeMutableRawPointer.allocate(byteCount: max(1, n * dtype.elementBytes), alignment: 64) }
        absmax = (0..<(dtype == .q8 ? slots : 0)).map { _ in UnsafeMutablePointer<Float>.allocate(capacity: max(1, blocks)) }
        for (k, base) in self.slots.enumerated() {
            switch dtype {
            case .f32: base.initializeMemory(as: Float.self, repeating: initial, count: n)
            case .bf16: base.initializeMemory(as: UInt16.self, repeating: UInt16(ScalarQuantizer.roundToBFloat16(initial).bitPattern >> 16), count: n)
            case .q8:
                let q = ScalarQuantizer.quantize([Float](repeating: initial, count: n), maps[k])
                base.initializeMemory(as: UInt8.self, from: q.codes, count: n)
                absmax[k].initialize(from: q.absmax, count: q.absmax.count)
            }
        }
    }

    deinit {
        slots.forEach { $0.deallocate() }
        absmax.forEach { $0.deallocate() }
    }

    func laneBuffers(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>) -> LaneBuffers {
        LaneBuffers(params: params, grads: grads, state: slots.indices.map { k in
            StateSlot(slots[k], absmax: dtype == .q8 ? absmax[k] : nil, map: dtype == .q8 ? maps[k] : .signed)
        }, dtype: dtype)
    }

    var floats: [[Float]] {
        slots.indices.map { k in
            switch dtype {
            case .f32: Array(UnsafeBufferPointer(start: slots[k].assumingMemoryBound(to: Float.self), count: count))
            case .bf16: (0..<count).map { Float(bitPattern: UInt32(slots[k].load(fromByteOffset: 2 * $0, as: UInt16.self)) << 16) }
            case .q8: ScalarQuantizer.dequantize(codes(k), maps[k])
            }
        }
    }

    func codes(_ k: Int) -> ScalarQuantizer.Quantized {
        let blocks = (count + QuantizationMap.blockSize - 1) / QuantizationMap.blockSize
        return ScalarQuantizer.Quantized(codes: (0..<count).map { slots[k].load(fromByteOffset: $0, as: UInt8.self) },
                                         absmax: Array(UnsafeBufferPointer(start: absmax[k], count: blocks)))
    }
}

/// bfloat16 rounding and bitsandbytes' block-wise quantization written out element by element,
/// independently of the kernels' vector code: the nearest code by exact distance (a tie to the
/// lower code, the search map's first value taken as -1), absmax the largest magnitude of the
/// block, 256 elements per block counted from the first.
enum ScalarQuantizer {
    struct Quantized: Equatable {
        var codes: [UInt8]
        var absmax: [Float]
    }

    static func roundToBFloat16(_ x: Float) -> Float {
        if x.isNaN { return x }
        let bits = x.bitPattern
        let lower = bits & 0xFFFF
        var upper = bits >> 16
        if lower > 0x8000 || (lower == 0x8000 && upper & 1 == 1) { upper += 1 }
        return Float(bitPattern: upper << 16)
    }

    static func quantize(_ x: [Float], _ map: QuantizationMap) -> Quantized {
        var search = (0..<256).map { Double(map.values[$0]) }
        search[0] = -1
        var out = Quantized(codes: [], absmax: [])
        for start in stride(from: 0, to: x.count, by: QuantizationMap.blockSize) {
            let block = x[start..<min(x.count, start + QuantizationMap.blockSize)]
            let absmax = block.reduce(Float(0)) { m, v in abs(v) > m ? abs(v) : m }
            out.absmax.append(absmax)
            let d = absmax > 0 ? absmax : 1
            for v in block {
                let normed = Double(v / d)
                var best = 0
                for c in 1..<256 where abs(normed - search[c]) < abs(normed - search[best]) { best = c }
                out.codes.append(UInt8(best))
            }
        }
        return out
    }

    static func dequantize(_ q: Quantized, _ map: QuantizationMap) -> [Float] {
        q.codes.indices.map { i in map.values[Int(q.codes[i])] * q.absmax[i / QuantizationMap.blockSize] }
    }
}
