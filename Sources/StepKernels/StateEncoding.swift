/// Whole-tensor conversions between float32 and a state dtype, off the hot path: filling new
/// state with its start value, reading state for a view or a conversion, and a PATCH that
/// changes `state_dtype` on a live session. The same rounding as the kernels' loops: bf16 to
/// nearest even, q8 per 256-element block to the nearest code of `value / absmax`.
public enum StateEncoding {
    /// Writes `values` as `dtype` to `bytes` (and, for q8, one absmax per block to `absmax`).
    public static func encode(_ values: UnsafePointer<Float>, count n: Int, as dtype: StateDType,
                              into bytes: UnsafeMutableRawPointer, absmax: UnsafeMutablePointer<Float>?, map: QuantizationMap) {
        switch dtype {
        case .f32:
            bytes.copyMemory(from: values, byteCount: n * 4)
        case .bf16:
            HalfPrecision.narrow(values, to: bytes, count: n, bfloat: true)
        case .q8:
            var start = 0, block = 0
            while start < n {
                let end = min(n, start + QuantizationMap.blockSize)
                var m: Float = 0
                for i in start..<end where abs(values[i]) > m { m = abs(values[i]) }
                absmax![block] = m
                map.quantize(values + start, count: end - start, dividedBy: m > 0 ? m : 1,
                             into: (bytes + start).assumingMemoryBound(to: UInt8.self))
                start = end
                block += 1
            }
        }
    }

    /// Fills `count` elements of `dtype` state with one value.
    public static func fill(_ value: Float, count n: Int, as dtype: StateDType, into bytes: UnsafeMutableRawPointer,
                            absmax: UnsafeMutablePointer<Float>?, map: QuantizationMap) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: QuantizationMap.blockSize) { tmp in
            tmp.initialize(repeating: value)
            var start = 0
            while start < n {
                let c = min(QuantizationMap.blockSize, n - start)
                encode(tmp.baseAddress!, count: c, as: dtype, into: bytes + start * dtype.elementBytes,
                       absmax: absmax.map { $0 + start / QuantizationMap.blockSize }, map: map)
                start += c
            }
        }
    }

    /// Reads elements `range` (relative to the tensor's first) of `dtype` state into `out`.
    public static func decode(_ bytes: UnsafeRawPointer, as dtype: StateDType, absmax: UnsafePointer<Float>?, map: QuantizationMap,
                              range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        switch dtype {
        case .f32:
            UnsafeMutableRawPointer(out).copyMemory(from: bytes + range.lowerBound * 4, byteCount: range.count * 4)
        case .bf16:
            HalfPrecision.widen(bytes + range.lowerBound * 2, to: out, count: range.count, bfloat: true)
        case .q8:
            for i in range {
                out[i - range.lowerBound] = map.values[Int(bytes.load(fromByteOffset: i, as: UInt8.self))]
                    * absmax![i / QuantizationMap.blockSize]
            }
        }
    }
}
