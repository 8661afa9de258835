@_exported import StepLanes
import StepKernelsAVX2

// The public entry of every update kernel: the rule's formula and loop live in StepLanes;
// here a call picks the compiled copy (`InstructionSet`). Adding an optimizer means its file
// in StepLanes, one line in AVX2Kernels and one `update` here.

extension AdamW {
    /// Updates `range` of the session's buffers in one pass. `maxExpAvgSq` is used only with amsgrad.
    public func update(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>,
                       expAvg: UnsafeMutablePointer<Float>, expAvgSq: UnsafeMutablePointer<Float>,
                       maxExpAvgSq: UnsafeMutablePointer<Float>?, gradScale: Float, range: Range<Int>,
                       on isa: InstructionSet = .detected) -> UpdateStats {
        switch isa {
        case .avx2:
            AVX2Kernels.adamW(self, params: params, grads: grads, expAvg: expAvg, expAvgSq: expAvgSq,
                              maxExpAvgSq: maxExpAvgSq, gradScale: gradScale, range: range)
        case .portable:
            stream(params: params, grads: grads, expAvg: expAvg, expAvgSq: expAvgSq, maxExpAvgSq: maxExpAvgSq,
                   gradScale: gradScale, range: range)
        }
    }
}

extension SGD {
    public func update(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>,
                       momentumBuffer: UnsafeMutablePointer<Float>?, gradScale: Float, range: Range<Int>,
                       on isa: InstructionSet = .detected) -> UpdateStats {
        switch isa {
        case .avx2:
            AVX2Kernels.sgd(self, params: params, grads: grads, momentumBuffer: momentumBuffer, gradScale: gradScale, range: range)
        case .portable:
            stream(params: params, grads: grads, momentumBuffer: momentumBuffer, gradScale: gradScale, range: range)
        }
    }
}

extension RMSProp {
    public func update(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>,
                       squareAvg: UnsafeMutablePointer<Float>, gradAvg: UnsafeMutablePointer<Float>?,
                       momentumBuffer: UnsafeMutablePointer<Float>?, gradScale: Float, range: Range<Int>,
                       on isa: InstructionSet = .detected) -> UpdateStats {
        switch isa {
        case .avx2:
            AVX2Kernels.rmsProp(self, params: params, grads: grads, squareAvg: squareAvg, gradAvg: gradAvg,
                                momentumBuffer: momentumBuffer, gradScale: gradScale, range: range)
        case .portable:
            stream(params: params, grads: grads, squareAvg: squareAvg, gradAvg: gradAvg, momentumBuffer: momentumBuffer,
                   gradScale: gradScale, range: range)
        }
    }
}

extension Adagrad {
    public func update(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>,
                       sum: UnsafeMutablePointer<Float>, gradScale: Float, range: Range<Int>,
                       on isa: InstructionSet = .detected) -> UpdateStats {
        switch isa {
        case .avx2: AVX2Kernels.adagrad(self, params: params, grads: grads, sum: sum, gradScale: gradScale, range: range)
        case .portable: stream(params: params, grads: grads, sum: sum, gradScale: gradScale, range: range)
        }
    }
}

extension MemoryTraffic {
    /// The benchmark's yardstick: reads four float32 streams and writes three, as an AdamW step does.
    package static func run(grads: UnsafePointer<Float>, params: UnsafeMutablePointer<Float>, expAvg: UnsafeMutablePointer<Float>,
                           expAvgSq: UnsafeMutablePointer<Float>, range: Range<Int>, on isa: InstructionSet = .detected) {
        switch isa {
        case .avx2: AVX2Kernels.memoryTraffic(grads, params, expAvg, expAvgSq, range)
        case .portable: readFourWriteThree(grads, params, expAvg, expAvgSq, range)
        }
    }
}
