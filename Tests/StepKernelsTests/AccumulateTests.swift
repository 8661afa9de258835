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

    @Test("scale multiplies element-wise exactly like scalar float multiplication", arguments: KernelLengths.all)
    func scaleMatchesScalarMultiplication(length: Int) {
        let x = TestRandom.values(count: length, seed: 33)
        for factor: Float in [0.25, 1.0 / 3, -7] {
            let want = x.map { $0 * factor }
            for threads in [1, 3] {
                let b = AlignedBuffer(x)
                Accumulate.scale(b.pointer, by: factor, count: length, parallel: Parallel(threads: threads, minimumPerThread: 16))
                let d = FloatComparison.firstBitDifference(b.array, want)
                #expect(d == nil, "n=\(length) factor \(factor) threads \(threads): \(d ?? "")")
            }
        }
    }

    @Test("adding contributions in order and scaling by 1/K gives their mean")
    func meanOfContributions() {
        let n = 1029
        let parts = (0..<4).map { TestRandom.values(count: n, seed: 40 + UInt64($0)) }
        let sum = AlignedBuffer(count: n)
        for p in parts {
            p.withUnsafeBufferPointer { Accumulate.add($0.baseAddress!, into: sum.pointer, count: n) }
        }
        Accumulate.scale(sum.pointer, by: 0.25, count: n)
        let want = (0..<n).map { i -> Float in
            var s: Float = parts[0][i] + parts[1][i]
            s = s + parts[2][i]
            s = s + parts[3][i]
            return s * 0.25
        }
        #expect(FloatComparison.firstBitDifference(sum.array, want) == nil)
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
