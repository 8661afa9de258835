import StepLanes

/// The x86-64-v3 (AVX2, FMA) copies of the kernels' loops. This module is compiled with
/// `-target-cpu haswell` (see Package.swift), so the `@inlinable` loops of StepLanes inlined
/// here come out with 256-bit instructions. Only StepKernels calls in, and only after
/// `InstructionSet.detected` has checked the CPU: on an older CPU these would fault. The checks
/// themselves stay in portable code for that reason.
package enum AVX2Kernels {
    package static func adamW(_ k: AdamW, params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>,
                              expAvg: UnsafeMutablePointer<Float>, expAvgSq: UnsafeMutablePointer<Float>,
                              maxExpAvgSq: UnsafeMutablePointer<Float>?, gradScale: Float, range: Range<Int>) -> UpdateStats {
        k.stream(params: params, grads: grads, expAvg: expAvg, expAvgSq: expAvgSq, maxExpAvgSq: maxExpAvgSq,
                 gradScale: gradScale, range: range)
    }

    package static func sgd(_ k: SGD, params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>,
                            momentumBuffer: UnsafeMutablePointer<Float>?, gradScale: Float, range: Range<Int>) -> UpdateStats {
        k.stream(params: params, grads: grads, momentumBuffer: momentumBuffer, gradScale: gradScale, range: range)
    }

    package static func rmsProp(_ k: RMSProp, params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>,
                                squareAvg: UnsafeMutablePointer<Float>, gradAvg: UnsafeMutablePointer<Float>?,
                                momentumBuffer: UnsafeMutablePointer<Float>?, gradScale: Float, range: Range<Int>) -> UpdateStats {
        k.stream(params: params, grads: grads, squareAvg: squareAvg, gradAvg: gradAvg, momentumBuffer: momentumBuffer,
                 gradScale: gradScale, range: range)
    }

    package static func adagrad(_ k: Adagrad, params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>,
                                sum: UnsafeMutablePointer<Float>, gradScale: Float, range: Range<Int>) -> UpdateStats {
        k.stream(params: params, grads: grads, sum: sum, gradScale: gradScale, range: range)
    }

    package static func squareSum(_ x: UnsafePointer<Float>, _ n: Int) -> Double {
        SquareSum.of(x, n)
    }

    package static func memoryTraffic(_ g: UnsafePointer<Float>, _ p: UnsafeMutablePointer<Float>,
                                      _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>, _ r: Range<Int>) {
        MemoryTraffic.readFourWriteThree(g, p, m, v, r)
    }
}
