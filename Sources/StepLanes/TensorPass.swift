/// One pass of a tensor-level rule (LAMB, Adafactor, Muon) over part of one tensor, with what
/// it needs bound. One enum, as `LaneRule`, so that each compiled copy of the loops (portable,
/// AVX2) is reached through a single entry point; StepKernels' `TensorRule` sequences the
/// passes of a step and splits each over threads. `range` is in elements, or in rows for the
/// passes over Adafactor's matrices.
public enum TensorPass: @unchecked Sendable {
    case lambMoments(Lamb, TensorBuffers, gradScale: Float)
    case lambApply(Lamb, TensorBuffers, ratio: Float)
    case adafactorSquares(Adafactor, TensorBuffers, gradScale: Float, columns: Int,
                          rowSquares: UnsafeMutablePointer<Float>, columnSquares: UnsafeMutablePointer<Float>)
    case adafactorFactored(Adafactor, TensorBuffers, gradScale: Float, rowsPerMatrix: Int, columns: Int,
                           rowFloor: UnsafePointer<Float>, apply: Float?)
    case adafactorFull(Adafactor, TensorBuffers, gradScale: Float, apply: Float?)
    case muonMomentum(Muon, TensorBuffers, gradScale: Float, into: UnsafeMutablePointer<Float>)
    case muonApply(Muon, TensorBuffers, orthogonal: UnsafePointer<Float>, coefficient: Float)

    @inlinable @inline(__always)
    package func run<Copy: CompiledCopy>(_ range: Range<Int>, _ copy: Copy.Type) -> UpdateStats {
        switch self {
        case let .lambMoments(k, t, s): return k.moments(t, gradScale: s, range: range, copy)
        case let .lambApply(k, t, ratio): return k.apply(t, ratio: ratio, range: range, copy)
        case let .adafactorSquares(k, t, s, columns, rows, cols):
            k.squares(t, gradScale: s, columns: columns, rows: range, rowSquares: rows, columnSquares: cols, copy)
            return UpdateStats()
        case let .adafactorFactored(k, t, s, perMatrix, columns, floor, apply):
            return k.factored(t, gradScale: s, rowsPerMatrix: perMatrix, columns: columns, rows: range, rowFloor: floor, apply: apply, copy)
        case let .adafactorFull(k, t, s, apply): return k.full(t, gradScale: s, range: range, apply: apply, copy)
        case let .muonMomentum(k, t, s, out): return k.momentum(t, gradScale: s, range: range, into: out, copy)
        case let .muonApply(k, t, o, coef): return k.apply(t, orthogonal: o, coefficient: coef, range: range, copy)
        }
    }
}
