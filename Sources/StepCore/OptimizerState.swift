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
        roles = config.stateNames.map { name in
            let role = config.stateLayout.role(name)!
            let buffer = AlignedBuffer(count: role.count)
            for (t, piece) in zip(layout.tensors, role.pieces) {
                guard let piece else { continue }
                let group = config.groups[t.group]
                (buffer.pointer + piece.offset).update(repeating: group.kind.initialValue(of: name, group.hyper), count: piece.count)
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


    /// A deep copy: what a snapshot takes under the session lock before writing to disk unlocked.
    public func copy() -> OptimizerState {
        OptimizerState(params: params.copy(), roles: roles.map { ($0.name, $0.buffer.copy()) }, scalars: scalars)
    }

    /// Bytes of parameters plus state.
    public var byteCount: Int { roles.reduce(params.byteCount) { $0 + $1.buffer.byteCount } }

    /// `scalars` as a checkpoint stores them: `{"group": {"name": value}}`.
    public func scalarsJSON(_ config: SessionConfig) -> JSONValue {
        .object(JSONObject(scalars.sorted { $0.key < $1.key }.map { group, values in
            let kind = config.groups.first { $0.name == group }?.kind ?? config.optimizer.kind
            return (group, .object(JSONObject(zip(kind.scalars, values).map { ($0.name, .number($1)) })))
        }))
    }

    /// Reads `scalarsJSON`'s form back, checking every group and name against the config.
    public static func scalars(from json: JSONValue, config: SessionConfig) throws(JSONFieldError) -> [String: [Double]] {
        var r = try JSONObjectReader(json, path: "optimizer_scalars")
        var out: [String: [Double]] = [:]
        for group in config.groups {
            guard var g = try r.object(group.name) else { continue }
            out[group.name] = try group.kind.scalars.map { s throws(JSONFieldError) in
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
