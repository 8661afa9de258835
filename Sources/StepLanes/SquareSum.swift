/// The inner loop of the gradient norm: the float64 sum of squares of one chunk, in a fixed
/// lane order so the result does not depend on the instruction set or on the thread count.
@usableFromInline package enum SquareSum {
    @inlinable @inline(__always)
    package static func of<Copy: CompiledCopy>(_ x: UnsafePointer<Float>, _ n: Int, _ copy: Copy.Type) -> Double {
        let raw = UnsafeRawPointer(x)
        var a0 = SIMD4<Double>(), a1 = SIMD4<Double>()
        var i = 0
        while i + 8 <= n {
            let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            let lo = SIMD4<Double>(v.lowHalf), hi = SIMD4<Double>(v.highHalf)
            a0 += lo * lo
            a1 += hi * hi
            i += 8
        }
        var s = (a0 + a1).sum()
        while i < n {
            let d = Double(x[i])
            s += d * d
            i += 1
        }
        return s
    }
}
