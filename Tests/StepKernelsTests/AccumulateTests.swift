import StepKernels
import Testing

@Suite struct AccumulateTests {
    @Test("add sums element-wise exactly like scalar float addition", arguments: KernelLengths.all)
    func addMatchesScalarAddition(length: Int) {
        let x = TestRandom.values(count: length, seed: 31)
        let y = TestRandom.values(count: length, seed: 32, scale: 5)
        let want = zip(x, y).map { $1 + $0 }
        for threads in [1, 2, 3] {
            let sum = AlignedBuffer(y)
            x.withUnsafeBufferPointer { xs in
                Accumulate.add(xs.baseAddress ?? UnsafePointer(sum.pointer), into: sum.pointer, count: length,
                               parallel: Parallel(threads: threads, minimumPerThread: 16))
            }
            let d = FloatComparison.firstBitDifference(sum.array, want)
            #expect(d == nil, "n=\(length) threads \(threads): \(d ?? "")")
        }
    }

    @Test("NaN in a contribution stays in its own element")
    func nanStaysInItsElement() {
        var x = TestRandom.values(count: 19, seed: 34)
        x[9] = .nan
        let sum = AlignedBuffer(count: 19, filledWith: 1)
        x.withUnsafeBufferPointer { Accumulate.add($0.baseAddress!, into: sum.pointer, count: 19) }
        #expect(sum.array[9].isNaN)
        #expect(sum.array.enumerated().allSatisfy { $0.offset == 9 || $0.element.isFinite })
    }
}
