import StepKernels
@testable import StepLanes
import Testing

/// State kept in bfloat16 or as q8 codes: the kernels run each rule's float32 formula on state
/// widened from storage and store it back rounded (bf16) or requantized per block (q8), which
/// must be exactly what the scalar reference does with a float32 update followed by that
/// rounding (`KernelHarness.reference`, `ScalarQuantizer`), and give the same bits in both
/// compiled copies and wherever a range is cut.
@Suite struct LowPrecisionStateTests {
    static let variants = KernelVariant.onEveryInstructionSet(KernelContractTests.rules)

    /// The rules that have a q8 form, with the map of each slot (as their descriptors declare).
    static let quantized: [(KernelVariant, [QuantizationMap])] = [
        (.sgd("sgd momentum 0.9", momentum: 0.9), [.signed]),
        (.sgd("sgd nesterov, weight decay", momentum: 0.9, weightDecay: 0.01, nesterov: true), [.signed]),
        (.lion("lion wd 0.1", lr: 1e-3, weightDecay: 0.1), [.signed]),
        (.adamax("adamax", weightDecay: 0.01), [.signed, .unsigned]),
        (.adadelta("adadelta"), [.unsigned, .unsigned]),
        (.nAdam("nadam"), [.signed, .unsigned]),
        (.rAdam("radam from step 6", fromStep: 6), [.signed, .unsigned]),
        (.adagrad("adagrad initial 0.1", initialAccumulator: 0.1), [.unsigned]),
        (.adam("adamw", weightDecay: 0.1, decoupled: true, amsgrad: false), [.signed, .unsigned]),
        (.adam("adam amsgrad", weightDecay: 0.05, decoupled: false, amsgrad: true), [.signed, .unsigned, .unsigned]),
        (.rmsprop("rmsprop centered momentum", momentum: 0.5, centered: true), [.unsigned, .signed, .signed]),
    ]
    static let quantizedCases = quantized.flatMap { v, maps in InstructionSet.runnable.map { QuantizedCase(variant: v.on($0), maps: maps) } }

    struct QuantizedCase: Sendable, CustomTestStringConvertible {
        let variant: KernelVariant
        let maps: [QuantizationMap]
        var testDescription: String { variant.name }
    }

    @Test("bf16 state: the float32 formula, then each state value rounded to nearest even", arguments: variants, [9, 1023])
    func bfloat16MatchesRoundedReference(_ v: KernelVariant, length n: Int) {
        let (params, grads) = KernelHarness.inputs(length: n)
        let got = KernelHarness.kernel(v, params: params, grads: grads, dtype: .bf16)
        let want = KernelHarness.reference(v, params: params, grads: grads, dtype: .bf16)
        for k in 0..<v.stateCount {
            let wide = got.state[k].firstIndex { $0.bitPattern & 0xFFFF != 0 && !$0.isNaN }
            #expect(wide == nil, "\(v.name): state \(k) [\(wide ?? -1)] is not a bfloat16 value")
        }
        if v.bitExact {
            KernelChecks.expectMatches(got, want, v, "\(v.name) bf16 n=\(n)", sourceLocation: #_sourceLocation)
        } else {
            // A formula that agrees with torch only within an ulp may round a state value to the
            // neighbouring bfloat16 (2^-8 away); the run then stays within that of the reference.
            let p = FloatComparison.firstMismatch(got.params, want.params, rtol: 1e-3, atol: 1e-5)
            #expect(p == nil, "\(v.name) bf16: params\(p ?? "")")
            for k in 0..<v.stateCount {
                let s = FloatComparison.firstMismatch(got.state[k], want.state[k], rtol: 1e-2, atol: 1e-6)
                #expect(s == nil, "\(v.name) bf16: state \(k)\(s ?? "")")
            }
        }
        if n > 0 { #expect(got.params != params) }
    }

    @Test("bf16 rounding of special values: ties to even, NaN stays NaN, infinities and denormals", arguments: InstructionSet.runnable)
    func bfloat16RoundingOfSpecialValues(isa: InstructionSet) {
        // ASGD with eta 0 and mu 1 copies the parameters into its state unchanged: the state
        // buffer then holds exactly the kernel's rounding of each parameter.
        let patterns: [UInt32] = [0x3F80_8000, 0x3F81_8000, 0x3F80_8001, 0x3F80_7FFF, 0x7F7F_FFFF, 0x7F80_0000, 0xFF80_0000,
                                  0x7FC0_0000, 0x7F80_0001, 0xFF80_0001, 0x0000_0001, 0x8000_8000, 0x0001_8000, 0x0000_0000,
                                  0x8000_0000, 0xC2F7_0123, 0x3401_7FFF]
        let params = patterns.map { Float(bitPattern: $0) }
        let copy = KernelVariant(name: "copy", stateCount: 1, initialState: 0, rule: { _ in .asgd(ASGD(eta: 0, mu: 1, lambd: 0, weightDecay: 0)) },
                                 reference: { _, _, _, _, _ in }).on(isa)
        let got = KernelHarness.kernel(copy, params: params, grads: [[Float](repeating: 0, count: params.count)], dtype: .bf16)
        for (i, x) in params.enumerated() {
            let want = ScalarQuantizer.roundToBFloat16(x)
            let same = got.state[0][i].bitPattern == want.bitPattern || (x.isNaN && got.state[0][i].isNaN)
            #expect(same, "0x\(String(patterns[i], radix: 16)) became 0x\(String(got.state[0][i].bitPattern, radix: 16)), expected 0x\(String(want.bitPattern, radix: 16))")
        }
    }

    /// Rules with two state slots round both in one call (`stepd_bf16_narrow8x2`), which in the
    /// AVX-512 copy converts with `vcvtneps2bf16` unless the pair holds a denormal, and tests the
    /// pair for NaN once: each special value sits in its own vector of ordinary ones, so every
    /// vector takes the rare path for one lane and the fast one for the rest.
    @Test("bf16 rounding of special values in a pair of state slots", arguments: InstructionSet.runnable)
    func bfloat16PairRoundingOfSpecialValues(isa: InstructionSet) {
        // Rprop's first step stores the gradient itself as `prev` (slot 0) next to its step sizes.
        let patterns: [UInt32] = [0x3F80_8000, 0x3F81_8000, 0x3F80_8001, 0x3F80_7FFF, 0x7F7F_FFFF, 0x7F80_0000, 0xFF80_0000,
                                  0x7FC0_0000, 0x7F80_0001, 0xFF80_0001, 0x0000_0001, 0x8000_8000, 0x0001_8000, 0x0000_0000,
                                  0x8000_0000, 0xC2F7_0123, 0x3401_7FFF, 0x007F_FFFF, 0x0080_0000]
        var grads: [Float] = []
        for (k, bits) in patterns.enumerated() {
            var vector = (0..<8).map { Float($0 + 1) * 0.3183 }
            vector[k % 8] = Float(bitPattern: bits)
            grads += vector
        }
        let rprop = KernelVariant.rprop("rprop").on(isa)
        let got = KernelHarness.kernel(rprop, params: [Float](repeating: 1, count: grads.count), grads: [grads], dtype: .bf16)
        for (i, x) in grads.enumerated() {
            let want = ScalarQuantizer.roundToBFloat16(x)
            let same = got.state[0][i].bitPattern == want.bitPattern || (x.isNaN && got.state[0][i].isNaN)
            #expect(same, "[\(i)] 0x\(String(x.bitPattern, radix: 16)) became 0x\(String(got.state[0][i].bitPattern, radix: 16)), expected 0x\(String(want.bitPattern, radix: 16))")
            #expect(got.state[1][i] == ScalarQuantizer.roundToBFloat16(0.01), "[\(i)] step size \(got.state[1][i])")
        }
    }

    @Test("q8 state: dequantize, the float32 formula, requantize per 256-element block to the nearest code",
          arguments: quantizedCases, [300, 4099])
    func q8MatchesQuantizedReference(_ c: QuantizedCase, length n: Int) {
        let v = c.variant
        let (params, grads) = KernelHarness.inputs(length: n)
        let got = KernelHarness.kernel(v, params: params, grads: grads, dtype: .q8, maps: c.maps)
        let want = KernelHarness.reference(v, params: params, grads: grads, dtype: .q8, maps: c.maps)
        if v.bitExact {
            // Same float32 inputs to the same formula: the same codes, absmax and parameters.
            KernelChecks.expectMatches(got, want, v, "\(v.name) q8 n=\(n)", sourceLocation: #_sourceLocation)
        } else {
            // The formula agrees with the reference within an ulp, so a value at a midpoint
            // between two codes may go to the other one (then it stays one code step away).
            for k in 0..<v.stateCount {
                let differing = zip(got.state[k], want.state[k]).count { $0.bitPattern != $1.bitPattern }
                #expect(differing * 200 <= n, "\(v.name) q8: state \(k) differs in \(differing) of \(n) values")
            }
            let p = FloatComparison.firstMismatch(got.params, want.params, rtol: 1e-3, atol: 1e-4)
            #expect(p == nil, "\(v.name) q8: params\(p ?? "")")
        }
        #expect(got.params != params)
    }

    @Test("q8 and bf16: the same bits on both compiled copies and when a range is cut at block boundaries",
          arguments: quantized.map { QuantizedCase(variant: $0.0, maps: $0.1) })
    func lowPrecisionIsCopyAndSplitInvariant(_ c: QuantizedCase) {
        let n = 4099
        let (params, grads) = KernelHarness.inputs(length: n, seed: 13)
        for dtype in [StateDType.bf16, .q8] {
            let portable = KernelHarness.kernel(c.variant.on(.portable), params: params, grads: grads, dtype: dtype, maps: c.maps)
            for isa in InstructionSet.runnable {
                let v = c.variant.on(isa)
                let cut = KernelHarness.kernel(v, params: params, grads: grads, splits: [256, 768, 2048, 3840, 4096], dtype: dtype, maps: c.maps)
                KernelChecks.expectSameBits(portable, cut, v, "\(v.name) \(dtype) cut", sourceLocation: #_sourceLocation)
            }
        }
    }

    @Test("a code is the nearest map value by exact distance, a tie going to the lower code", arguments: [QuantizationMap.signed, .unsigned])
    func codeIsNearestValue(_ map: QuantizationMap) {
        var search = (0..<256).map { Double(map.values[$0]) }
        search[0] = -1
        var probes: [Float] = [-1, 1, 0, -0.0, .leastNonzeroMagnitude, 1e-30, -1e-30]
        for k in 0..<255 {
            let mid = Float((search[k] + search[k + 1]) / 2)
            probes += [mid, mid.nextUp, mid.nextDown, Float(search[k])]
        }
        var random = TestRandom.values(count: 20_000, seed: 21, scale: 1)
        random += random.map { $0 * 1e-4 } + random.map { $0 * 1e-6 }
        for x in probes + random where (map.isSigned || x >= 0) && abs(x) <= 1 {
            var best = 0
            for c in 1..<256 where abs(Double(x) - search[c]) < abs(Double(x) - search[best]) { best = c }
            #expect(map.code(x) == UInt8(best), "\(x): code \(map.code(x)), nearest \(best)")
        }
        // The kernels' block quantizer (eight lanes at a time, then a scalar tail) finds the same codes.
        let xs = (probes + random + [.nan, 1.5, -1.5, .infinity]).filter { map.isSigned || !($0 < 0) }
        var codes = [UInt8](repeating: 0, count: xs.count)
        xs.withUnsafeBufferPointer { v in
            codes.withUnsafeMutableBufferPointer { map.quantize(v.baseAddress!, count: xs.count, dividedBy: 1, into: $0.baseAddress!) }
        }
        #expect(codes == xs.map { map.code($0) })
    }
}
