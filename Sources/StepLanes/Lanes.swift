import CStepIntrinsics

/// Eight float32 lanes, the unit every update kernel works in. A kernel's formula is written
/// once for `SIMD8<Float>`; the last partial vector of a range is loaded zero-padded and stored
/// back lane by lane, so the tail runs the very same instructions as the body and gives
/// bit-identical results wherever a range is split. Kernels loop with a plain `while`: a
/// closure-taking helper was not inlined and kept the accumulators in memory (5x slower).
///
/// Everything in this module is `@inlinable` on purpose: the loops are compiled into each
/// instruction-set module (StepKernels portably, StepKernelsAVX2 for x86-64-v3) with that
/// module's code generation flags. Nothing here should run uninlined.
@usableFromInline package typealias Lanes = SIMD8<Float>

extension SIMD8 where Scalar == Float {
    @inlinable @inline(__always)
    package static func load(_ p: UnsafePointer<Float>, _ i: Int, _ valid: Int) -> SIMD8<Float> {
        if valid >= 8 { return UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self) }
        var v = SIMD8<Float>()
        for k in 0..<valid { v[k] = p[i + k] }
        return v
    }

    @inlinable @inline(__always)
    package func store(_ p: UnsafeMutablePointer<Float>, _ i: Int, _ valid: Int) {
        if valid >= 8 {
            UnsafeMutableRawPointer(p + i).storeBytes(of: self, as: SIMD8<Float>.self)
            return
        }
        for k in 0..<valid { p[i + k] = self[k] }
    }

    /// Vector square root through the C header: Swift's own `squareRoot()` on SIMD8 becomes
    /// eight scalar square roots.
    @inlinable @inline(__always)
    package var sqrt: SIMD8<Float> { stepd_sqrt8(self) }

    /// `a*b + c` rounded once (ATen's `add_` with alpha, `addcmul_`, `lerp_`).
    @inlinable @inline(__always)
    package static func fma(_ a: SIMD8<Float>, _ b: SIMD8<Float>, _ c: SIMD8<Float>) -> SIMD8<Float> { stepd_fma8(a, b, c) }

    @inlinable @inline(__always)
    package static func fma(_ a: SIMD8<Float>, _ b: Float, _ c: SIMD8<Float>) -> SIMD8<Float> {
        stepd_fma8(a, SIMD8<Float>(repeating: b), c)
    }

    @inlinable @inline(__always)
    package static func fma(_ a: Float, _ b: SIMD8<Float>, _ c: SIMD8<Float>) -> SIMD8<Float> {
        stepd_fma8(SIMD8<Float>(repeating: a), b, c)
    }

    /// torch's `sign`/`sgn` on real CPU tensors: -1, 0 or 1, and 0 for NaN (pytorch#41245).
    @inlinable @inline(__always)
    package var sign: SIMD8<Float> {
        SIMD8<Float>(repeating: 0).replacing(with: 1, where: self .> 0).replacing(with: -1, where: self .< 0)
    }

    /// torch.maximum: NaN if either side is NaN.
    @inlinable @inline(__always)
    package static func maximum(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        a.replacing(with: b, where: (b .> a) .| (b .!= b))
    }
}

/// The weight of a `lerp_(end, w)` in float32, with ATen's two forms: for |w| < 0.5
/// `fma(w, end - self, self)`, otherwise `fma(w - 1, end - self, end)`, each rounded once.
@usableFromInline package struct LerpWeight: Sendable {
    @usableFromInline let w: Float
    @usableFromInline let wMinusOne: Float
    @usableFromInline let small: Bool

    @inlinable package init(_ weight: Double) {
        w = Float(weight)
        wMinusOne = w - 1
        small = abs(w) < 0.5
    }

    @inlinable @inline(__always)
    package func apply(_ start: SIMD8<Float>, _ end: SIMD8<Float>) -> SIMD8<Float> {
        let d = end - start
        return small ? .fma(w, d, start) : .fma(wMinusOne, d, end)
    }
}

/// What an update pass learns for free while it streams: sums of squares of the change it made
/// and of the new parameters (for the update/param ratio in a step's history). Accumulated in
/// float32 lanes per range; callers add ranges in a fixed order.
public struct UpdateStats: Sendable, Equatable {
    public var updateSquares: Double = 0
    public var paramSquares: Double = 0
    public init() {}
    public static func + (a: UpdateStats, b: UpdateStats) -> UpdateStats {
        var s = a
        s.updateSquares += b.updateSquares
        s.paramSquares += b.paramSquares
        return s
    }
}

/// Lane accumulators behind `UpdateStats`; padding lanes of a tail are left out.
@usableFromInline package struct StatsAccumulator {
    @usableFromInline var update = SIMD8<Float>()
    @usableFromInline var param = SIMD8<Float>()

    @inlinable package init() {}

    @inlinable @inline(__always)
    package mutating func add(old: SIMD8<Float>, new: SIMD8<Float>) {
        let d = new - old
        update += d * d
        param += new * new
    }

    @inlinable @inline(__always)
    package mutating func add(old: SIMD8<Float>, new: SIMD8<Float>, valid: Int) {
        let d = new - old
        if valid >= 8 {
            update += d * d
            param += new * new
        } else {
            for k in 0..<valid {
                update[k] += d[k] * d[k]
                param[k] += new[k] * new[k]
            }
        }
    }

    @inlinable
    package var stats: UpdateStats {
        var s = UpdateStats()
        s.updateSquares = Double(update.sum())
        s.paramSquares = Double(param.sum())
        return s
    }
}

/// Which compiled copy a kernel's loop belongs to: each instruction-set module defines its own
/// type and passes it to every loop, which is generic over it. The loops are then specialised
/// and emitted inside that module, with its code generation flags and under a name of its own.
/// Without it, a loop the optimizer declined to inline (a large switch of kernels is over its
/// size budget even for `@inline(__always)`) was called in StepLanes' own, portable, copy from
/// the AVX2 module; and a copy emitted into two modules under one symbol name would let the
/// linker pick either for both.
@usableFromInline package protocol CompiledCopy {}

/// A compile-time switch for a kernel's loop: a generic parameter of this type makes the
/// compiler emit one loop per setting, with the test folded away.
@usableFromInline package protocol KernelFlag { static var isOn: Bool { get } }
@usableFromInline package enum FlagOn: KernelFlag { @inlinable package static var isOn: Bool { true } }
@usableFromInline package enum FlagOff: KernelFlag { @inlinable package static var isOn: Bool { false } }
