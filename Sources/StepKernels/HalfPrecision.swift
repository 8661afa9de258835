/// Half-size gradient uploads (`?dtype=bf16|f16`) widen to float32 as they arrive. Both
/// conversions are exact: every bf16 and f16 value is representable in float32.
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
}
