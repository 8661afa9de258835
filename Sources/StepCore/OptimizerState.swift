import StepJSON
import StepKernels

/// The master parameters and optimizer state of a session: one aligned buffer per state tensor
/// (by torch's state name), each covering every tensor in declared order, and the optimizer's
/// per-group scalars.
public final class OptimizerState: @unchecked Sendable {
    public let params: AlignedBuffer
    public private(set) var roles: [(name: String, buffer: AlignedBuffer)]
    /// By group name, the values of the optimizer's `scalars`; a group without an entry has not
    /// stepped yet (its scalars are at their start values).
    public var scalars: [String: [Double]]

    init(config: SessionConfig, inits: [ParamInit]) {
        let layout = config.layout
        params = AlignedBuffer(count: layout.count)
        for (t, i) in zip(layout.tensors, inits) {
            i.fill(UnsafeMutableBufferPointer(start: params.pointer + t.offset, count: t.count))
        }
        let kind = config.optimizer.kind
        roles = config.stateNames.map { name in
            let buffer = AlignedBuffer(count: layout.count)
            for t in layout.tensors {
                let v = kind.initialValue(of: name, config.groups[t.group].hyper)
                (buffer.pointer + t.offset).update(repeating: v, count: t.count)
            }
            return (name, buffer)
        }
        scalars = [:]
    }

    /// Restores from captured buffers (a snapshot or checkpoint).
    public init(params: AlignedBuffer, roles: [(name: String, buffer: AlignedBuffer)], scalars: [String: [Double]] = [:]) {
        self.params = params
        self.roles = roles
        self.scalars = scalars
    }

    subscript(name: String) -> UnsafeMutablePointer<Float>? {
        roles.first(where: { $0.name == name })?.buffer.pointer
    }

    public func buffer(_ name: String) -> AlignedBuffer? { roles.first(where: { $0.name == name })?.buffer }

    /// The buffers of `grads` and the state in the kernel's slots (`names` in slot order).
    func laneBuffers(grads: UnsafePointer<Float>, slots names: [String]) -> LaneBuffers {
        LaneBuffers(params: params.pointer, grads: grads, state: names.map { self[$0] })
    }

    /// A deep copy: what a snapshot takes under the session lock before writing to disk unlocked.
    public func copy() -> OptimizerState {
        OptimizerState(params: params.copy(), roles: roles.map { ($0.name, $0.buffer.copy()) }, scalars: scalars)
    }

    /// Bytes of parameters plus state.
    public var byteCount: Int { params.byteCount * (1 + roles.count) }

    /// `scalars` as a checkpoint stores them: `{"group": {"name": value}}`.
    public func scalarsJSON(_ kind: any OptimizerDescriptor.Type) -> JSONValue {
        .object(JSONObject(scalars.sorted { $0.key < $1.key }.map { group, values in
            (group, .object(JSONObject(zip(kind.scalars, values).map { ($0.name, .number($1)) })))
        }))
    }

    /// Reads `scalarsJSON`'s form back, checking every group and name against the config.
    public static func scalars(from json: JSONValue, config: SessionConfig) throws(JSONFieldError) -> [String: [Double]] {
        let kind = config.optimizer.kind
        var r = try JSONObjectReader(json, path: "optimizer_scalars")
        var out: [String: [Double]] = [:]
        for group in config.groups {
            guard var g = try r.object(group.name) else { continue }
            out[group.name] = try kind.scalars.map { s throws(JSONFieldError) in
                guard let v = try g.double(s.name), v.isFinite else {
                    throw JSONFieldError(field: g.field(s.name), "is required (a finite number)")
                }
                return v
            }
            try g.finish()
        }
        try r.finish()
        return out
    }
}

extension OptimizerDescriptor {
    /// State names in kernel slot order.
    public static var slotNames: [String] { stateTensors.map(\.name) }
}
