/// Half-size gradient uploads (`?dtype=bf16|f16`) widen to float32 as they arrive (exact: every
/// bf16 and f16 value is a float32), and half-size parameter downloads narrow float32 with
/// round-to-nearest-even, as torch's `.to(torch.bfloat16)` / `.half()` do.
public enum HalfPrecision {
    /// bfloat16 is the top half of a float32, so widening is a shift.
    @inline(__always)
    public static func bf16ToFloat(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    @inline(__always)
    public static func f16ToFloat(_ bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exp = Int32((bits >> 10) & 0x1F)
        let mant = UInt32(bits & 0x3FF)
        if exp == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }  // inf / nan
        if exp == 0 {
            if mant == 0 { return Float(bitPattern: sign) }
            // subnormal half: value = mant * 2^-24, exact in float32
            let magnitude = Float(mant) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign != 0 ? -magnitude : magnitude
        }
        return Float(bitPattern: sign | (UInt32(exp - 15 + 127) << 23) | (mant << 13))
    }

    /// Widens `count` little-endian 16-bit values from `source` into `destination`.
    public static func widen(_ source: UnsafeRawPointer, to destination: UnsafeMutablePointer<Float>, count: Int, bfloat: Bool) {
        if bfloat {
            for i in 0..<count {
                destination[i] = bf16ToFloat(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            }
        } else {
            for i in 0..<count {
                destination[i] = f16ToFloat(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            }
        }
    }

    /// float32 to bfloat16, rounding to nearest even; NaN stays a (quiet) NaN.
    @inline(__always)
    public static func floatToBF16(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        if x.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }

    /// float32 to IEEE half, rounding to nearest even (overflow to infinity, gradual underflow).
    @inline(__always)
    public static func floatToF16(_ x: Float) -> UInt16 {
        Float16(x).bitPattern
    }

    /// Narrows `count` float32 values into little-endian 16-bit values at `destination`.
    public static func narrow(_ source: UnsafePointer<Float>, to destination: UnsafeMutableRawPointer, count: Int, bfloat: Bool) {
        if bfloat {
            for i in 0..<count { destination.storeBytes(of: floatToBF16(source[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        } else {
            for i in 0..<count { destination.storeBytes(of: floatToF16(source[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        }
    }
}
