#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import StepKernels
import Testing

@Suite struct HalfPrecisionTests {
    /// A binary16-like value built arithmetically from its fields: sign, `expBits` exponent bits,
    /// `mantBits` mantissa bits and bias; nil for NaN.
    static func decode(_ bits: UInt16, expBits: Int, mantBits: Int) -> Double? {
        let sign: Double = bits >> 15 == 1 ? -1 : 1
        let expMask = (1 << expBits) - 1
        let e = Int(bits >> UInt16(mantBits)) & expMask
        let m = Double(Int(bits) & ((1 << mantBits) - 1))
        let bias = (1 << (expBits - 1)) - 1
        if e == expMask { return m == 0 ? sign * .infinity : nil }
        if e == 0 { return sign * m * pow(2, Double(1 - bias - mantBits)) }  // subnormal (and ±0)
        return sign * (1 + m / pow(2, Double(mantBits))) * pow(2, Double(e - bias))
    }

    static func check(_ widen: (UInt16) -> Float, expBits: Int, mantBits: Int) -> [String] {
        var failures: [String] = []
        for b in 0...UInt16.max {
            let got = widen(b)
            if let want = decode(b, expBits: expBits, mantBits: mantBits) {
                // Exact: the value converts to Float without rounding, and the sign of zero is kept.
                let w = Float(want)
                if Double(w) != want { failures.append(String(b, radix: 16) + ": reference \(want) is not a float32") }
                if got.bitPattern != w.bitPattern { failures.append(String(b, radix: 16) + ": \(got) vs \(w)") }
            } else if !got.isNaN {
                failures.append(String(b, radix: 16) + ": \(got), expected NaN")
            }
        }
        return failures
    }

    @Test("bf16 widening is exact for all 65536 bit patterns")
    func bf16WideningIsExact() {
        let failures = Self.check(HalfPrecision.bf16ToFloat, expBits: 8, mantBits: 7)
        #expect(failures.isEmpty, "\(failures.count) wrong, first: \(failures.prefix(5))")
    }

    @Test("f16 widening is exact for all 65536 bit patterns")
    func f16WideningIsExact() {
        let failures = Self.check(HalfPrecision.f16ToFloat, expBits: 5, mantBits: 10)
        #expect(failures.isEmpty, "\(failures.count) wrong, first: \(failures.prefix(5))")
    }

    @Test("f16 special values: ±0, ±Inf, NaN, smallest subnormal, largest subnormal, largest finite")
    func f16SpecialValues() {
        #expect(HalfPrecision.f16ToFloat(0x0000).bitPattern == Float(0).bitPattern)
        #expect(HalfPrecision.f16ToFloat(0x8000).bitPattern == Float(-0.0).bitPattern)
        #expect(HalfPrecision.f16ToFloat(0x7C00) == .infinity)
        #expect(HalfPrecision.f16ToFloat(0xFC00) == -.infinity)
        #expect(HalfPrecision.f16ToFloat(0x7E00).isNaN)
        #expect(HalfPrecision.f16ToFloat(0x7C01).isNaN)
        #expect(HalfPrecision.f16ToFloat(0x0001) == 0x1p-24)
        #expect(HalfPrecision.f16ToFloat(0x83FF) == -Float(1023) * 0x1p-24)
        #expect(HalfPrecision.f16ToFloat(0x7BFF) == 65504)
        #expect(HalfPrecision.f16ToFloat(0x3C00) == 1)
        #expect(HalfPrecision.f16ToFloat(0xC000) == -2)
    }

    @Test("bf16 special values: ±0, ±Inf, NaN, denormal, 1, -2")
    func bf16SpecialValues() {
        #expect(HalfPrecision.bf16ToFloat(0x8000).bitPattern == Float(-0.0).bitPattern)
        #expect(HalfPrecision.bf16ToFloat(0x7F80) == .infinity)
        #expect(HalfPrecision.bf16ToFloat(0xFF80) == -.infinity)
        #expect(HalfPrecision.bf16ToFloat(0x7FC0).isNaN)
        #expect(HalfPrecision.bf16ToFloat(0x0001) == 0x1p-133)
        #expect(HalfPrecision.bf16ToFloat(0x3F80) == 1)
        #expect(HalfPrecision.bf16ToFloat(0xC000) == -2)
    }

    @Test("widen reads little-endian values from an unaligned source", arguments: [true, false])
    func widenReadsUnalignedLittleEndian(bfloat: Bool) {
        let values: [UInt16] = [0x3C00, 0xC000, 0x0001, 0x8000, 0x7BFF, 0x3F80, 0x1234, 0xABCD, 0x7C00]
        var bytes: [UInt8] = [0xEE]  // one byte of padding puts every value at an odd address
        for v in values { bytes += [UInt8(v & 0xFF), UInt8(v >> 8)] }
        var out = [Float](repeating: -1, count: values.count)
        bytes.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { dst in
                HalfPrecision.widen(raw.baseAddress! + 1, to: dst.baseAddress!, count: values.count, bfloat: bfloat)
            }
        }
        let want = values.map { bfloat ? HalfPrecision.bf16ToFloat($0) : HalfPrecision.f16ToFloat($0) }
        #expect(FloatComparison.firstBitDifference(out, want) == nil, "\(out) vs \(want)")
    }
}
