/// One whole tensor as a tensor-level rule sees it: its parameters and (unscaled) gradient, its
/// shape, and its optimizer state in the descriptor's slot order. A state tensor need not have
/// the parameter's shape (Adafactor keeps one number per row and per column); each rule
/// documents what its slots hold. A slot this tensor does not keep is nil.
public struct TensorBuffers: @unchecked Sendable {
    public var params: UnsafeMutablePointer<Float>
    public var grads: UnsafePointer<Float>
    public var shape: [Int]
    public var count: Int
    public var state: [UnsafeMutablePointer<Float>?]

    public init(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>, shape: [Int], state: [UnsafeMutablePointer<Float>?]) {
        self.params = params
        self.grads = grads
        self.shape = shape
        count = shape.reduce(1, *)
        self.state = state
    }
}

/// Sums of squares a tensor-level pass collects over its range, in float32 lanes per call;
/// callers add the ranges of a fixed split in order, so a tensor's norms do not depend on the
/// thread count.
@usableFromInline package struct SquaresAccumulator {
    @usableFromInline var a = Lanes()
    @usableFromInline var b = Lanes()

    @inlinable package init() {}

    /// Adds `x*x` to the first sum and `y*y` to the second, for the first `valid` lanes.
    @inlinable @inline(__always)
    package mutating func add(_ x: Lanes, _ y: Lanes, valid: Int = 8) {
        if valid >= 8 {
            a = Lanes.fma(x, x, a)
            b = Lanes.fma(y, y, b)
        } else {
            for k in 0..<valid {
                a[k] += x[k] * x[k]
                b[k] += y[k] * y[k]
            }
        }
    }

    /// The two sums as `UpdateStats`' fields: `updateSquares` the first, `paramSquares` the second.
    @inlinable package var stats: UpdateStats {
        var s = UpdateStats()
        s.updateSquares = Double(a.sum())
        s.paramSquares = Double(b.sum())
        return s
    }
}
