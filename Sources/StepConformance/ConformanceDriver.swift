/// What a conformance replay needs from a layer under test: the same three calls a training
/// client makes. The session engine, the HTTP API (JSON or binary) all implement it, so every
/// case runs unchanged at every layer.
public protocol ConformanceDriver {
    /// The layer under test as a result line names it (`library`, `router/json`, `socket/binary`).
    var layer: String { get }
    /// Creates the session from the case's `session` object.
    mutating func create(session: ConformanceCase) throws
    /// Posts one step's gradients.
    mutating func step(grads: [String: [Double]]) throws -> ConformanceStepReport
    /// Current parameters by name.
    mutating func params() throws -> [String: [Float]]
    /// One of the optimizer's views of the parameters (`average`, `eval`) by name.
    mutating func params(view: String) throws -> [String: [Float]]
    /// The 8-bit state of every tensor: per tensor, per state name (exp_avg, ...), its codes
    /// and absmax; nil for a tensor whose state is not q8.
    mutating func quantizedState() throws -> [String: [String: QuantizedState]?]
    /// Removes what `create` made (a no-op where nothing outlives the driver).
    mutating func finish() throws
}

/// One tensor's q8 state: a code per element and an absmax per 256-element block.
public struct QuantizedState: Sendable, Equatable {
    public var codes: [UInt8]
    public var absmax: [Float]
    public init(codes: [UInt8], absmax: [Float]) {
        self.codes = codes
        self.absmax = absmax
    }
}

public struct ConformanceStepReport: Sendable {
    public var step: Int
    public var lr: Double
    public var gradNorm: Double?
    public var skipped: Bool
    public init(step: Int, lr: Double, gradNorm: Double?, skipped: Bool) {
        self.step = step; self.lr = lr; self.gradNorm = gradNorm; self.skipped = skipped
    }
}

extension ConformanceDriver {
    public mutating func finish() throws {}
}
