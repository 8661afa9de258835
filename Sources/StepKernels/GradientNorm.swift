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

    /// The sums of squares of consecutive tensors of `counts[i]` values each, every tensor
    /// summed over its own fixed chunks (counted from its first value) in order. Thread count
    /// cannot change a bit of them, and neither can where the tensors sit: a tensor gives the
    /// same sum alone on one server as among others on another, which is what lets a model split
    /// over several servers clip exactly as one server would (`total`).
    public static func tensorSums(_ values: UnsafePointer<Float>, counts: [Int], parallel: Parallel = .serial,
                                  on isa: InstructionSet = .detected) -> [Double] {
        var items: [(start: Int, count: Int)] = []
        var firstItem: [Int] = []
        var start = 0
        for n in counts {
            firstItem.append(items.count)
            var lo = 0
            while lo < n {
                items.append((start + lo, min(chunk, n - lo)))
                lo += chunk
            }
            start += n
        }
        firstItem.append(items.count)
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: max(items.count, 1)) { partial in
            let out = partial.baseAddress!
            items.withUnsafeBufferPointer { items in
                parallel.forEachItem(count: items.count) { i in out[i] = chunkSum(values + items[i].start, items[i].count, on: isa) }
            }
            return counts.indices.map { t in
                var sum = 0.0
                for i in firstItem[t]..<firstItem[t + 1] { sum += out[i] }
                return sum
            }
        }
    }

    /// A step's sum of squares from per-tensor sums: added one by one in declared order,
    /// starting from zero. A client adding up the sums of several servers must add them the
    /// same way (left to right, no compensated summation) to get the same bits.
    public static func total(_ tensorSums: [Double]) -> Double {
        var sum = 0.0
        for s in tensorSums { sum += s }
        return sum
    }

    /// `tensorSums` taken while the values arrive in order (a request body written into its
    /// buffer chunk by chunk), so each chunk is summed while it is still in cache instead of in
    /// a separate pass over memory afterwards. The chunks and the order of their addition are
    /// `tensorSums`' own, so the sums have the very same bits for any thread count and however
    /// the values were split on arrival.
    public struct Running: Sendable {
        public let count: Int
        let isa: InstructionSet
        /// Where each tensor ends.
        private let ends: [Int]
        /// Values covered by the chunks summed so far.
        public private(set) var summed = 0
        private var closed: [Double] = []
        /// The sum so far of tensor `closed.count`.
        private var current = 0.0

        public init(tensorCounts: [Int], on isa: InstructionSet = .detected) {
            var ends: [Int] = []
            var end = 0
            for n in tensorCounts {
                end += n
                ends.append(end)
            }
            self.ends = ends
            count = end
            self.isa = isa
            closed.reserveCapacity(tensorCounts.count)
        }

        /// One tensor of `count` values.
        public init(count: Int, on isa: InstructionSet = .detected) { self.init(tensorCounts: [count], on: isa) }

        /// Sums every chunk that `values[0..<available]` now completes; the caller promises
        /// those values are final.
        public mutating func advance(_ values: UnsafePointer<Float>, available: Int) {
            let available = min(available, count)
            while true {
                while closed.count < ends.count, summed == ends[closed.count] {
                    closed.append(current)
                    current = 0
                }
                guard summed < available else { return }
                let end = min(summed + GradientNorm.chunk, ends[closed.count])
                guard end <= available else { return }
                current += GradientNorm.chunkSum(values + summed, end - summed, on: isa)
                summed = end
            }
        }

        /// Where the chunk being summed ends (within its tensor): a writer that stops there and
        /// advances gets the chunk summed while it is still in cache.
        public var chunkEnd: Int {
            closed.count < ends.count ? min(summed + GradientNorm.chunk, ends[closed.count]) : count
        }

        /// Each tensor's sum of squares, once all `count` values have arrived.
        public var tensorSums: [Double]? {
            guard summed == count else { return nil }
            var out = closed
            // The tensor in progress; any after it hold no values.
            if out.count < ends.count { out.append(current) }
            while out.count < ends.count { out.append(0) }
            return out
        }

        /// The sum of squares of all `count` values (`total` of the tensors'), once they have all arrived.
        public var result: Double? { tensorSums.map(GradientNorm.total) }
    }

    /// A memory-bound loop: the AVX-512 level runs the AVX2 copy.
    static func chunkSum(_ x: UnsafePointer<Float>, _ n: Int, on isa: InstructionSet) -> Double {
        isa >= .avx2 ? AVX2Kernels.squareSum(x, n) : SquareSum.of(x, n, PortableCopy.self)
    }
}
