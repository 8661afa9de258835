import StepKernels
import Testing

@Suite struct GradientNormTests {
    static func sumOfSquares(_ x: [Float], parallel: Parallel = .serial) -> Double {
        x.withUnsafeBufferPointer { GradientNorm.sumOfSquares($0.baseAddress ?? UnsafePointer(bitPattern: 64)!, count: $0.count, parallel: parallel) }
    }

    static func measure(_ x: [Float], parallel: Parallel = .serial) -> (norm: Double, finite: Bool) {
        x.withUnsafeBufferPointer { GradientNorm.measure($0.baseAddress ?? UnsafePointer(bitPattern: 64)!, count: $0.count, parallel: parallel) }
    }

    /// Plain sequential float64 sum of squares.
    static func reference(_ x: [Float]) -> Double {
        var s = 0.0
        for v in x { s += Double(v) * Double(v) }
        return s
    }

    @Test("sum of squares matches a float64 reference", arguments: KernelLengths.all)
    func sumOfSquaresMatchesDoubleReference(length: Int) {
        let x = TestRandom.values(count: length, seed: 21, scale: 3)
        let want = Self.reference(x)
        for threads in [1, 2] {
            let got = Self.sumOfSquares(x, parallel: Parallel(threads: threads, minimumPerThread: 16))
            // Both sums add the same exactly-representable squares (a float32 squared is exact in
            // float64) in different orders; for n positive terms each order is within (n-1)·2^-53
            // relative of the exact sum, so at 1M terms they differ by at most ~2.2e-10 relative.
            #expect(abs(got - want) <= 1e-9 * want, "n=\(length) threads \(threads): \(got) vs \(want)")
        }
        let m = Self.measure(x)
        #expect(m.finite)
        #expect(abs(m.norm - want.squareRoot()) <= 1e-9 * want.squareRoot())
    }

    @Test("every compiled copy gives the same bits", arguments: [1, 9, 1023, KernelLengths.large])
    func sameBitsOnEveryInstructionSet(length: Int) {
        let x = TestRandom.values(count: length, seed: 24, scale: 3)
        let sums = InstructionSet.runnable.map { isa in
            x.withUnsafeBufferPointer { GradientNorm.sumOfSquares($0.baseAddress!, count: length, parallel: Parallel(threads: 2), on: isa) }
        }
        #expect(Set(sums.map(\.bitPattern)).count == 1, "n=\(length): \(zip(InstructionSet.runnable, sums).map { "\($0)=\($1)" })")
    }

    @Test("the empty gradient has norm 0 and is finite")
    func emptyGradientIsZeroAndFinite() {
        let m = Self.measure([])
        #expect(m.norm == 0)
        #expect(m.finite)
    }

    @Test("NaN, +Inf or -Inf anywhere clears the finite flag", arguments: [Float.nan, .infinity, -.infinity], [1, 7, 8, 9, 1023, KernelLengths.large])
    func nonFiniteAnywhereIsDetected(bad: Float, length: Int) {
        let clean = TestRandom.values(count: length, seed: 22)
        for position in Set([0, length / 2, length - 1]).sorted() {
            var x = clean
            x[position] = bad
            for threads in [1, 3] {
                let m = Self.measure(x, parallel: Parallel(threads: threads, minimumPerThread: 16))
                #expect(!m.finite, "\(bad) at [\(position)] of \(length), threads \(threads): norm \(m.norm)")
            }
        }
    }

    @Test("huge finite values (±3e38) are finite and their norm is right", arguments: [1, 9, 1023, KernelLengths.large])
    func hugeFiniteValuesAreFinite(length: Int) {
        var x = TestRandom.values(count: length, seed: 23)
        for position in Set([0, length / 2, length - 1]) { x[position] = position % 2 == 0 ? 3e38 : -3e38 }
        let m = Self.measure(x, parallel: Parallel(threads: 2, minimumPerThread: 16))
        #expect(m.finite)
        let want = Self.reference(x).squareRoot()
        #expect(want.isFinite && want > 3e38)
        #expect(abs(m.norm - want) <= 1e-9 * want)
    }

    @Test("every value at ±Float.greatestFiniteMagnitude still sums to a finite float64")
    func largestFloatsDoNotOverflowTheSum() {
        let x = (0..<1023).map { $0 % 2 == 0 ? Float.greatestFiniteMagnitude : -Float.greatestFiniteMagnitude }
        let m = Self.measure(x)
        #expect(m.finite)
        #expect(abs(m.norm - Double(Float.greatestFiniteMagnitude) * Double(1023).squareRoot()) <= 1e-12 * m.norm)
    }

    @Test("sum of squares is bit-identical on 1, 2 and 3 threads", arguments: [9, 65_536 * 3 + 5, KernelLengths.large])
    func threadCountInvariance(length: Int) {
        let x = TestRandom.values(count: length, seed: 24, scale: 10)
        let one = Self.sumOfSquares(x, parallel: Parallel(threads: 1, minimumPerThread: 16))
        for threads in [2, 3] {
            let other = Self.sumOfSquares(x, parallel: Parallel(threads: threads, minimumPerThread: 16))
            #expect(one.bitPattern == other.bitPattern, "threads \(threads): \(other) vs \(one)")
        }
        #expect(one.bitPattern == Self.sumOfSquares(x, parallel: .machine).bitPattern)
    }

    @Test("the running sum, fed in any pieces, has the bits of sumOfSquares", arguments: [0, 1, 9, 65_536, 65_536 * 3 + 5])
    func runningSumMatchesOnePass(length: Int) {
        var x = TestRandom.values(count: length, seed: 25, scale: 10)
        if length > 9 { x[length - 2] = 3e38 }
        x.withUnsafeBufferPointer { b in
            let p = b.baseAddress ?? UnsafePointer(bitPattern: 64)!
            for isa in InstructionSet.runnable {
                let want = GradientNorm.sumOfSquares(p, count: length, parallel: Parallel(threads: 2, minimumPerThread: 16), on: isa)
                for piece in [1, 7, 4096, 65_537, max(1, length)] {
                    var running = GradientNorm.Running(count: length, on: isa)
                    var at = 0
                    while at < length {
                        #expect(running.result == nil)
                        at = min(length, at + piece)
                        running.advance(p, available: at)
                    }
                    #expect(running.result?.bitPattern == want.bitPattern, "n=\(length) \(isa) pieces of \(piece)")
                }
            }
        }
    }

    @Test("the running sum sees a NaN in the last, partial chunk")
    func runningSumSeesNaNAtTheEnd() {
        var x = TestRandom.values(count: 65_536 + 3, seed: 26)
        x[65_537] = .nan
        var running = GradientNorm.Running(count: x.count)
        x.withUnsafeBufferPointer { running.advance($0.baseAddress!, available: x.count) }
        #expect(running.result.map { !$0.isFinite } == true)
    }
}

@Suite struct TensorSumsTests {
    static let counts = [5, 65_536 + 3, 0, 70_000, 1, 65_536]

    @Test("per-tensor sums have the same bits for any thread count, and each tensor's is its own alone")
    func tensorSumsIgnoreThreadsAndNeighbours() {
        let n = Self.counts.reduce(0, +)
        let x = TestRandom.values(count: n, seed: 31, scale: 3)
        x.withUnsafeBufferPointer { b in
            let p = b.baseAddress!
            for isa in InstructionSet.runnable {
                let serial = GradientNorm.tensorSums(p, counts: Self.counts, on: isa)
                for threads in [2, 3, 8] {
                    let other = GradientNorm.tensorSums(p, counts: Self.counts, parallel: Parallel(threads: threads, minimumPerThread: 16), on: isa)
                    #expect(other.map(\.bitPattern) == serial.map(\.bitPattern), "\(isa) threads \(threads)")
                }
                var offset = 0
                for (t, count) in Self.counts.enumerated() {
                    // The same values at the start of another server's buffer.
                    let alone = GradientNorm.sumOfSquares(p + offset, count: count, on: isa)
                    #expect(alone.bitPattern == serial[t].bitPattern, "tensor \(t) \(isa)")
                    offset += count
                }
                var total = 0.0
                for s in serial { total += s }
                #expect(GradientNorm.total(serial).bitPattern == total.bitPattern)
            }
        }
    }

    @Test("per-tensor running sums, fed in pieces across tensor boundaries, have the bits of one pass")
    func runningTensorSumsMatchOnePass() {
        let n = Self.counts.reduce(0, +)
        var x = TestRandom.values(count: n, seed: 32, scale: 10)
        x[7] = 3e38
        x.withUnsafeBufferPointer { b in
            let p = b.baseAddress!
            let want = GradientNorm.tensorSums(p, counts: Self.counts)
            for piece in [1, 4093, 65_537, n] {
                var running = GradientNorm.Running(tensorCounts: Self.counts)
                var at = 0
                while at < n {
                    #expect(running.tensorSums == nil)
                    at = min(n, at + piece)
                    running.advance(p, available: at)
                }
                #expect(running.tensorSums?.map(\.bitPattern) == want.map(\.bitPattern), "pieces of \(piece)")
                #expect(running.result?.bitPattern == GradientNorm.total(want).bitPattern)
            }
        }
    }
}
