import StepKernels

/// Parameters and state buffers after a run, and the kernel's statistics summed over its calls.
struct KernelRun {
    var params: [Float]
    var state: [[Float]]
    var stats = UpdateStats()
}

/// Runs a variant's SIMD kernel, or its scalar reference, over several steps of gradients.
enum KernelHarness {
    /// The SIMD kernel, with each step's range split by `parallel` (or by explicit `splits`).
    static func kernel(_ v: KernelVariant, params: [Float], grads: [[Float]], gradScale: Float = 1,
                       parallel: Parallel = .serial, splits: [Int]? = nil) -> KernelRun {
        let n = params.count
        let p = AlignedBuffer(params)
        let state = (0..<v.stateCount).map { _ in AlignedBuffer(count: n, filledWith: v.initialState) }
        let pointers = state.map(\.pointer)
        let g = AlignedBuffer(count: n)
        let stats = Locked(UpdateStats())
        for (k, stepGrads) in grads.enumerated() {
            precondition(stepGrads.count == n)
            stepGrads.withUnsafeBufferPointer { src in
                if let base = src.baseAddress { g.pointer.update(from: base, count: n) }
            }
            if let splits {
                let bounds = [0] + splits.filter { $0 > 0 && $0 < n } + [n]
                for i in 0..<(bounds.count - 1) where bounds[i] < bounds[i + 1] {
                    let s = v.kernel(k + 1, p.pointer, g.pointer, pointers, gradScale, bounds[i]..<bounds[i + 1], v.isa)
                    stats.withValue { $0 = $0 + s }
                }
            } else {
                // Ranges finish in any order; the sum is only compared between runs with one split.
                parallel.forEachRange(count: n) { r in
                    let s = v.kernel(k + 1, p.pointer, g.pointer, pointers, gradScale, r, v.isa)
                    stats.withValue { $0 = $0 + s }
                }
            }
        }
        return KernelRun(params: p.array, state: state.map(\.array), stats: stats.withValue { $0 })
    }

    /// The scalar torch formula, element by element.
    static func reference(_ v: KernelVariant, params: [Float], grads: [[Float]], gradScale: Float = 1) -> KernelRun {
        var p = params
        let s0 = v.initialState
        var st = [ScalarState](repeating: ScalarState(s0: s0, s1: s0, s2: s0), count: p.count)
        for (k, stepGrads) in grads.enumerated() {
            for i in 0..<p.count { v.reference(k + 1, &p[i], stepGrads[i], &st[i], gradScale) }
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
