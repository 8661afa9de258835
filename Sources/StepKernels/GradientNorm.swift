import StepKernelsAVX2
import StepLanes

/// The first read of a step: sum of squares of the gradients in float64, which also detects
/// non-finite values (a finite float32 squared cannot overflow a double, so the sum is finite
/// exactly when every element is). The sum is taken over fixed chunks added in chunk order, so
/// the result is bit-identical for any thread count.
public enum GradientNorm {
    public static let chunk = 1 << 16

    /// Sum of squares of `values[0..<count]`.
    public static func sumOfSquares(_ values: UnsafePointer<Float>, count: Int, parallel: Parallel = .serial,
                                    on isa: InstructionSet = .detected) -> Double {
        let chunks = (count + chunk - 1) / chunk
        if chunks <= 1 { return chunkSum(values, count, on: isa) }
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: chunks) { partial in
            let out = partial.baseAddress!
            parallel.forEachItem(count: chunks) { i in
                let lo = i * chunk
                out[i] = chunkSum(values + lo, min(chunk, count - lo), on: isa)
            }
            var total = 0.0
            for i in 0..<chunks { total += out[i] }
            return total
        }
    }

    /// The L2 norm and whether every value is finite, in one pass.
    public static func measure(_ values: UnsafePointer<Float>, count: Int, parallel: Parallel = .serial) -> (norm: Double, finite: Bool) {
        let s = sumOfSquares(values, count: count, parallel: parallel)
        return (s.squareRoot(), s.isFinite)
    }

    /// `sumOfSquares` taken while the values arrive in order (a request body written into its
    /// buffer chunk by chunk), so each chunk is summed while it is still in cache instead of in
    /// a separate pass over memory afterwards. The chunks and the order of their addition are
    /// `sumOfSquares`' own, so `result` has the very same bits for any thread count and however
    /// the values were split on arrival.
    public struct Running: Sendable {
        public let count: Int
        let isa: InstructionSet
        /// Values covered by the chunks summed so far.
        public private(set) var summed = 0
        private var total = 0.0

        public init(count: Int, on isa: InstructionSet = .detected) {
            self.count = count
            self.isa = isa
        }

        /// Sums every chunk that `values[0..<available]` now completes; the caller promises
        /// those values are final.
        public mutating func advance(_ values: UnsafePointer<Float>, available: Int) {
            let available = min(available, count)
            while summed < available {
                let end = min(summed + GradientNorm.chunk, count)
                guard end <= available else { return }
                total += GradientNorm.chunkSum(values + summed, end - summed, on: isa)
                summed = end
            }
        }

        /// The sum of squares of all `count` values, once they have all arrived.
        public var result: Double? { summed == count ? total : nil }
    }

    static func chunkSum(_ x: UnsafePointer<Float>, _ n: Int, on isa: InstructionSet) -> Double {
        isa == .avx2 ? AVX2Kernels.squareSum(x, n) : SquareSum.of(x, n, PortableCopy.self)
    }
}
