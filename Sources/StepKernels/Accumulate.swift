/// Gradient accumulation: contributions are summed into an accumulator; the mean's 1/K is not
/// applied here but folded into the update pass's gradient scale, which saves a full pass.
public enum Accumulate {
    /// `sum[i] += x[i]`
    public static func add(_ x: UnsafePointer<Float>, into sum: UnsafeMutablePointer<Float>, count: Int, parallel: Parallel = .serial) {
        parallel.forEachRange(count: count) { r in
            let xs = UnsafeRawPointer(x), ss = UnsafeMutableRawPointer(sum)
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                let v = ss.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) + xs.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                ss.storeBytes(of: v, toByteOffset: i * 4, as: SIMD8<Float>.self)
                i += 8
            }
            while i < r.upperBound { sum[i] += x[i]; i += 1 }
        }
    }
}
