@_exported import StepLanes
import StepKernelsAVX2
import StepKernelsAVX512

// The public entry of every update kernel: the rules' formulas and loops live in StepLanes;
// here a call picks the compiled copy (`InstructionSet`).

extension LaneRule {
    /// Updates `range` of the buffers in one pass.
    public func update(_ buffers: LaneBuffers, gradScale: Float, range: Range<Int>,
                       on isa: InstructionSet = .detected) -> UpdateStats {
        switch isa {
        case .avx512: AVX512Kernels.update(self, buffers, gradScale: gradScale, range: range)
        case .avx2: AVX2Kernels.update(self, buffers, gradScale: gradScale, range: range)
        case .portable: stream(buffers, gradScale: gradScale, range: range, PortableCopy.self)
        }
    }
}

extension TensorPass {
    /// Runs the pass over `range` (elements, or rows: see the case).
    public func run(_ range: Range<Int>, on isa: InstructionSet = .detected) -> UpdateStats {
        switch isa {
        case .avx512: AVX512Kernels.run(self, range)
        case .avx2: AVX2Kernels.run(self, range)
        case .portable: run(range, PortableCopy.self)
        }
    }
}

extension MemoryTraffic {
    /// The benchmark's yardstick: reads four float32 streams and writes three, as an AdamW step
    /// does. A memory-bound loop: the AVX-512 level runs the AVX2 copy.
    package static func run(grads: UnsafePointer<Float>, params: UnsafeMutablePointer<Float>, expAvg: UnsafeMutablePointer<Float>,
                           expAvgSq: UnsafeMutablePointer<Float>, range: Range<Int>, on isa: InstructionSet = .detected) {
        switch isa {
        case .avx2, .avx512: AVX2Kernels.memoryTraffic(grads, params, expAvg, expAvgSq, range)
        case .portable: readFourWriteThree(grads, params, expAvg, expAvgSq, range, PortableCopy.self)
        }
    }
}

/// The portable copy of every loop (see `CompiledCopy`).
package enum PortableCopy: CompiledCopy {}
