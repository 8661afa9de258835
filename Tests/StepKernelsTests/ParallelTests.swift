import Foundation
import StepKernels
import Testing

/// A value shared by concurrent closures in a test.
final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ value: T) { self.value = value }
    func withValue<R>(_ body: (inout T) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}

@Suite struct ParallelTests {
    static func ranges(_ p: Parallel, count: Int) -> [Range<Int>] {
        let seen = Locked<[Range<Int>]>([])
        p.forEachRange(count: count) { r in seen.withValue { $0.append(r) } }
        return seen.withValue { $0 }.sorted { $0.lowerBound < $1.lowerBound }
    }

    @Test("forEachRange covers 0..<count exactly once, cut at 16-element granules",
          arguments: [1, 2, 3, 4, 7], [0, 1, 15, 16, 17, 33, 48, 100, 1023, 1_000_003])
    func rangesPartitionTheInput(threads: Int, count: Int) {
        let rs = Self.ranges(Parallel(threads: threads, minimumPerThread: 16), count: count)
        var next = 0
        for r in rs {
            #expect(r.lowerBound == next, "gap or overlap at \(next): \(rs)")
            #expect(!r.isEmpty)
            #expect(r.lowerBound % Parallel.granule == 0, "\(r) does not start on a granule")
            next = r.upperBound
        }
        #expect(next == count)
        #expect(rs.count <= threads)
    }

    @Test("inputs below minimumPerThread stay in one range")
    func smallInputsStayOnOneThread() {
        #expect(Self.ranges(Parallel(threads: 8), count: 1000) == [0..<1000])
        #expect(Self.ranges(Parallel(threads: 2, minimumPerThread: 16), count: 31) == [0..<31])
        #expect(Self.ranges(Parallel(threads: 2, minimumPerThread: 16), count: 32).count == 2)
    }

    @Test("forEachItem visits every item once", arguments: [1, 2, 3], [0, 1, 2, 5, 16])
    func itemsAreVisitedOnce(threads: Int, count: Int) {
        let seen = Locked<[Int]>([])
        Parallel(threads: threads).forEachItem(count: count) { i in seen.withValue { $0.append(i) } }
        #expect(seen.withValue { $0 }.sorted() == Array(0..<count))
    }

    @Test("thread count is at least 1")
    func threadCountIsClamped() {
        #expect(Parallel(threads: 0).threads == 1)
        #expect(Parallel(threads: -3).threads == 1)
        #expect(Parallel(threads: 2, minimumPerThread: 1).minimumPerThread == Parallel.granule)
    }
}
