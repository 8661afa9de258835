import StepLanes

/// The x86-64-v3 (AVX2, FMA) copies of the kernels' loops. This module is compiled with
/// `-target-cpu haswell` (see Package.swift), so the `@inlinable` loops of StepLanes inlined
/// here come out with 256-bit instructions. Only StepKernels calls in, and only after
/// `InstructionSet.detected` has checked the CPU: on an older CPU these would fault. The checks
/// themselves stay in portable code for that reason.
package enum AVX2Kernels {
    package static func update(_ rule: LaneRule, _ buffers: LaneBuffers, gradScale: Float, range: Range<Int>) -> UpdateStats {
        rule.stream(buffers, gradScale: gradScale, range: range, AVX2Copy.self)
    }

    package static func run(_ pass: TensorPass, _ range: Range<Int>) -> UpdateStats {
        pass.run(range, AVX2Copy.self)
    }

    package static func squareSum(_ x: UnsafePointer<Float>, _ n: Int) -> Double {
        SquareSum.of(x, n, AVX2Copy.self)
    }

    package static func memoryTraffic(_ g: UnsafePointer<Float>, _ p: UnsafeMutablePointer<Float>,
                                      _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>, _ r: Range<Int>) {
        MemoryTraffic.readFourWriteThree(g, p, m, v, r, AVX2Copy.self)
    }
}

/// This module's copy of every loop (see `CompiledCopy`).
@usableFromInline package enum AVX2Copy: CompiledCopy {}
