import Dispatch

/// Splits element ranges over threads. Work is cut at multiples of `granule` elements so every
/// thread starts on a 64-byte boundary, and small inputs stay on the calling thread, where a
/// dispatch would cost more than the arithmetic.
public struct Parallel: Sendable {
    public let threads: Int
    /// Below this many elements a kernel runs on the calling thread.
    public let minimumPerThread: Int
    public static let granule = 16

    public init(threads: Int, minimumPerThread: Int = 1 << 16) {
        self.threads = max(1, threads)
        self.minimumPerThread = max(Parallel.granule, minimumPerThread)
    }

    /// As many threads as the machine has cores.
    public static var machine: Parallel { Parallel(threads: ProcessorCount.active) }
    public static let serial = Parallel(threads: 1)

    /// Calls `body` with disjoint ranges covering `0..<count`, concurrently, each starting at a
    /// multiple of `granule`.
    public func forEachRange(count: Int, granule: Int = Parallel.granule, _ body: (Range<Int>) -> Void) {
        let parts = min(threads, max(1, count / minimumPerThread))
        if parts <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        let per = (count / parts + granule - 1) / granule * granule
        withoutActuallyEscaping(body) { body in
            let body = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: parts) { i in
                let lo = min(count, i * per)
                let hi = i == parts - 1 ? count : min(count, lo + per)
                if lo < hi { body.value(lo..<hi) }
            }
        }
    }

    /// Runs `body` for each of `count` independent work items (fixed chunks of a reduction), with
    /// item i always covering the same data whatever the thread count.
    public func forEachItem(count: Int, _ body: (Int) -> Void) {
        if threads == 1 || count <= 1 {
            for i in 0..<count { body(i) }
            return
        }
        let parts = min(threads, count)
        withoutActuallyEscaping(body) { body in
            let body = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: parts) { t in
                for i in (t * count / parts)..<((t + 1) * count / parts) { body.value(i) }
            }
        }
    }
}

/// Kernels hand raw buffer pointers to worker threads; the ranges they touch are disjoint, which
/// the type system cannot see.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
