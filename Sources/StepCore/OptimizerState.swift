import StepKernels

/// The master parameters and optimizer state of a session: one aligned buffer per role, each
/// covering every tensor in declared order.
public final class OptimizerState: @unchecked Sendable {
    public let params: AlignedBuffer
    public private(set) var roles: [(role: StateRole, buffer: AlignedBuffer)]

    init(config: SessionConfig, inits: [ParamInit]) {
        let layout = config.layout
        params = AlignedBuffer(count: layout.count)
        for (t, i) in zip(layout.tensors, inits) {
            i.fill(UnsafeMutableBufferPointer(start: params.pointer + t.offset, count: t.count))
        }
        roles = StateRole.roles(for: config).map { ($0.0, AlignedBuffer(count: layout.count, filledWith: $0.1)) }
        if let sum = roles.first(where: { $0.role == .sum })?.buffer {
            for t in layout.tensors {
                let v = Float(config.groups[t.group].hyper.initialAccumulatorValue)
                (sum.pointer + t.offset).update(repeating: v, count: t.count)
            }
        }
    }

    /// Restores from captured buffers (a snapshot or checkpoint).
    public init(params: AlignedBuffer, roles: [(role: StateRole, buffer: AlignedBuffer)]) {
        self.params = params
        self.roles = roles
    }

    subscript(role: StateRole) -> UnsafeMutablePointer<Float>? {
        roles.first(where: { $0.role == role })?.buffer.pointer
    }

    public func buffer(_ role: StateRole) -> AlignedBuffer? { roles.first(where: { $0.role == role })?.buffer }

    /// A deep copy: what a snapshot takes under the session lock before writing to disk unlocked.
    public func copy() -> OptimizerState {
        OptimizerState(params: params.copy(), roles: roles.map { ($0.role, $0.buffer.copy()) })
    }

    /// Bytes of parameters plus state.
    public var byteCount: Int { params.byteCount * (1 + roles.count) }
}
