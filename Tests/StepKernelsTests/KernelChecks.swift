import StepKernels
import Testing

/// The properties every update kernel must have, shared by the per-kernel test files.
enum KernelChecks {
    /// Three steps from the same start: the SIMD kernel agrees with the scalar torch formula
    /// (parameters and every state buffer) within `FloatComparison`'s tolerance, and bit for bit
    /// where the variant is `bitExact`.
    static func matchesReference(_ v: KernelVariant, length n: Int, gradScale: Float = 1,
                                 sourceLocation: SourceLocation = #_sourceLocation) {
        let (params, grads) = KernelHarness.inputs(length: n)
        let got = KernelHarness.kernel(v, params: params, grads: grads, gradScale: gradScale)
        let want = KernelHarness.reference(v, params: params, grads: grads, gradScale: gradScale)
        #expect(got.params.count == n, sourceLocation: sourceLocation)
        expectMatches(got, want, v, "\(v.name) n=\(n)", sourceLocation: sourceLocation)
        if n > 0 {
            // The run must have moved something, or the comparison proves nothing.
            #expect(got.params != params, "\(v.name) n=\(n): parameters did not change", sourceLocation: sourceLocation)
        }
    }

    /// At 1_000_003 elements (two steps, as a full run is slow in a debug build): the kernel on one
    /// thread agrees with the scalar reference, and 2 and 3 threads give exactly its bits.
    static func largeInputMatchesReferenceOnAnyThreadCount(_ v: KernelVariant, sourceLocation: SourceLocation = #_sourceLocation) {
        let n = KernelLengths.large
        let (params, grads) = KernelHarness.inputs(length: n, steps: 2, seed: 9)
        let want = KernelHarness.reference(v, params: params, grads: grads)
        let one = KernelHarness.kernel(v, params: params, grads: grads, parallel: Parallel(threads: 1, minimumPerThread: 16))
        expectMatches(one, want, v, "\(v.name) n=\(n)", sourceLocation: sourceLocation)
        expectOtherThreadCountsMatch(one, v, params: params, grads: grads, sourceLocation: sourceLocation)
    }

    /// Threads 1, 2 and 3 (split at 16-element granules even for small inputs) give the same bits.
    static func threadCountInvariant(_ v: KernelVariant, length n: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        let (params, grads) = KernelHarness.inputs(length: n, seed: 7)
        let one = KernelHarness.kernel(v, params: params, grads: grads, parallel: Parallel(threads: 1, minimumPerThread: 16))
        expectOtherThreadCountsMatch(one, v, params: params, grads: grads, sourceLocation: sourceLocation)
    }

    /// Cutting a range at arbitrary (not lane-aligned) points gives the same bits as one call:
    /// the zero-padded tail runs the same arithmetic as the body.
    static func splitInvariant(_ v: KernelVariant, sourceLocation: SourceLocation = #_sourceLocation) {
        let n = 101
        let (params, grads) = KernelHarness.inputs(length: n, seed: 11)
        let whole = KernelHarness.kernel(v, params: params, grads: grads)
        let cut = KernelHarness.kernel(v, params: params, grads: grads, splits: [1, 5, 13, 14, 40, 63, 99])
        expectSameBits(whole, cut, v, "\(v.name)", sourceLocation: sourceLocation)
    }

    /// NaN, +Inf and -Inf in the second step's gradient (first, middle and last element) leave
    /// every other parameter and state value bit-identical to a run with finite gradients there,
    /// and make those parameters non-finite.
    ///
    /// Except for `signOnly` rules (Rprop, Lion): only the gradient's sign reaches their parameters,
    /// and torch.sign(±Inf) is ±1, so an infinite gradient moves the parameter by a finite step
    /// (Rprop may even drop it on a sign flip); a NaN's sign is 0 in torch, which leaves it where it
    /// was. For those rules each poisoned element (parameter and state) must be what the
    /// reference, torch, makes of it.
    static func nonFiniteStaysLocal(_ v: KernelVariant, length n: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        let (params, clean) = KernelHarness.inputs(length: n, seed: 3)
        let poisoned: [Int: Float] = [0: .nan, n / 2: .infinity, n - 1: -.infinity]
        var grads = clean
        for (i, x) in poisoned { grads[1][i] = x }
        let a = KernelHarness.kernel(v, params: params, grads: clean)
        let b = KernelHarness.kernel(v, params: params, grads: grads)
        if v.signOnly {
            let want = KernelHarness.reference(v, params: params, grads: grads)
            for i in poisoned.keys.sorted() {
                var differs: [String] = []
                if !FloatComparison.sameValue(b.params[i], want.params[i]) { differs.append("param \(b.params[i]), torch \(want.params[i])") }
                for k in 0..<v.stateCount where !FloatComparison.sameValue(b.state[k][i], want.state[k][i]) {
                    differs.append("state \(k) \(b.state[k][i]), torch \(want.state[k][i])")
                }
                let label = "\(v.name) n=\(n): [\(i)] after a \(grads[1][i]) gradient: \(differs)"
                #expect(differs.isEmpty, "\(label)", sourceLocation: sourceLocation)
            }
        } else {
            for i in poisoned.keys.sorted() {
                #expect(!b.params[i].isFinite, "\(v.name) n=\(n): param [\(i)] is \(b.params[i]) after a \(grads[1][i]) gradient",
                        sourceLocation: sourceLocation)
            }
        }
        var leaked: [String] = []
        for i in 0..<n where poisoned[i] == nil {
            if a.params[i].bitPattern != b.params[i].bitPattern { leaked.append("param [\(i)]") }
            for k in 0..<v.stateCount where a.state[k][i].bitPattern != b.state[k][i].bitPattern { leaked.append("state \(k) [\(i)]") }
            if leaked.count > 5 { break }
        }
        #expect(leaked.isEmpty, "\(v.name) n=\(n): non-finite gradients changed \(leaked)", sourceLocation: sourceLocation)
    }

    /// Denormal parameters and gradients (and exact zeros) never produce NaN or Inf, and still
    /// follow the reference.
    static func denormalsStayFinite(_ v: KernelVariant, sourceLocation: SourceLocation = #_sourceLocation) {
        let n = 37
        let tiny: [Float] = [.leastNonzeroMagnitude, -.leastNonzeroMagnitude, Float(bitPattern: 0x0001_16C2), -Float(bitPattern: 0x0000_0859), .leastNormalMagnitude / 2,
                             -.leastNormalMagnitude / 3, 0, -0.0, Float(bitPattern: 0x0015_CA5E)]
        let params = (0..<n).map { i in i % 3 == 0 ? tiny[i % tiny.count] : Float(i) * 0.1 - 1.5 }
        let grads = (0..<3).map { k in (0..<n).map { i in tiny[(i + k) % tiny.count] } }
        let got = KernelHarness.kernel(v, params: params, grads: grads)
        let want = KernelHarness.reference(v, params: params, grads: grads)
        #expect(got.params.allSatisfy { $0.isFinite }, "\(v.name): \(got.params)", sourceLocation: sourceLocation)
        for k in 0..<v.stateCount {
            #expect(got.state[k].allSatisfy { $0.isFinite }, "\(v.name): state \(k) \(got.state[k])", sourceLocation: sourceLocation)
        }
        let p = FloatComparison.firstMismatch(got.params, want.params)
        #expect(p == nil, "\(v.name): params\(p ?? "")", sourceLocation: sourceLocation)
        if v.bitExact {
            let bits = FloatComparison.firstBitDifference(got.params, want.params)
            #expect(bits == nil, "\(v.name): params are not the reference's bits\(bits ?? "")", sourceLocation: sourceLocation)
        }
    }

    /// A gradient scale (clip coefficient, accumulation mean, maximize sign) equals scaling the
    /// gradients first, bit for bit when the scale is exact (powers of two, -1).
    static func gradScaleEqualsScaledGradients(_ v: KernelVariant, sourceLocation: SourceLocation = #_sourceLocation) {
        let (params, grads) = KernelHarness.inputs(length: 45, seed: 5)
        for scale: Float in [-1, 0.5, -0.25] {
            let folded = KernelHarness.kernel(v, params: params, grads: grads, gradScale: scale)
            let scaled = KernelHarness.kernel(v, params: params, grads: grads.map { $0.map { $0 * scale } })
            let p = FloatComparison.firstBitDifference(folded.params, scaled.params)
            #expect(p == nil, "\(v.name) scale \(scale): params\(p ?? "")", sourceLocation: sourceLocation)
        }
    }

    /// Runs on 2 and 3 threads give exactly the bits of `one`, the single-thread run.
    static func expectOtherThreadCountsMatch(_ one: KernelRun, _ v: KernelVariant, params: [Float], grads: [[Float]],
                                             sourceLocation: SourceLocation) {
        for threads in [2, 3] {
            let other = KernelHarness.kernel(v, params: params, grads: grads, parallel: Parallel(threads: threads, minimumPerThread: 16))
            expectSameBits(one, other, v, "\(v.name) n=\(params.count) threads \(threads)", sourceLocation: sourceLocation)
        }
    }

    /// A kernel run agrees with the reference run, parameters and every state buffer: within
    /// `FloatComparison`'s tolerance, and bit for bit where the variant is `bitExact`.
    static func expectMatches(_ got: KernelRun, _ want: KernelRun, _ v: KernelVariant, _ label: String,
                              sourceLocation: SourceLocation) {
        let p = FloatComparison.firstMismatch(got.params, want.params)
        #expect(p == nil, "\(label): params\(p ?? "")", sourceLocation: sourceLocation)
        for k in 0..<v.stateCount {
            let s = FloatComparison.firstMismatch(got.state[k], want.state[k])
            #expect(s == nil, "\(label): state \(k)\(s ?? "")", sourceLocation: sourceLocation)
        }
        guard v.bitExact else { return }
        let bits = FloatComparison.firstBitDifference(got.params, want.params)
        #expect(bits == nil, "\(label): params are not the reference's bits\(bits ?? "")", sourceLocation: sourceLocation)
        for k in 0..<v.stateCount {
            let s = FloatComparison.firstBitDifference(got.state[k], want.state[k])
            #expect(s == nil, "\(label): state \(k) is not the reference's bits\(s ?? "")", sourceLocation: sourceLocation)
        }
    }

    /// Parameters and every state buffer of two runs are bit-identical.
    static func expectSameBits(_ a: KernelRun, _ b: KernelRun, _ v: KernelVariant, _ label: String, sourceLocation: SourceLocation) {
        let p = FloatComparison.firstBitDifference(a.params, b.params)
        #expect(p == nil, "\(label): params\(p ?? "")", sourceLocation: sourceLocation)
        for k in 0..<v.stateCount {
            let s = FloatComparison.firstBitDifference(a.state[k], b.state[k])
            #expect(s == nil, "\(label): state \(k)\(s ?? "")", sourceLocation: sourceLocation)
        }
    }
}
