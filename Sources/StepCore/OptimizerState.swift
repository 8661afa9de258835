import StepJSON
import StepKernels

/// The master parameters and optimizer state of a session: one aligned buffer per state tensor
/// (by torch's state name), holding the pieces `layout` places in it (float32, bfloat16, or q8
/// codes and absmax, per tensor), and the optimizer's per-group scalars.
public final class OptimizerState: @unchecked Sendable {
    public let params: AlignedBuffer
    /// Each holds its role's `byteCount` bytes (an AlignedBuffer of floats rounded up).
    public private(set) var roles: [(name: String, buffer: AlignedBuffer)]
    public private(set) var layout: StateLayout
    /// By group name, the values of the optimizer's `scalars`; a group without an entry has not
    /// stepped yet (its scalars are at their start values).
    public var scalars: [String: [Double]]

    init(config: SessionConfig, inits: [ParamInit]) {
        let tensors = config.layout
        params = AlignedBuffer(count: tensors.count)
        for (t, i) in zip(tensors.tensors, inits) {
            i.fill(UnsafeMutableBufferPointer(start: params.pointer + t.offset, count: t.count))
        }
        let layout = config.stateLayout
        self.layout = layout
        roles = layout.used.map { name in
            let role = layout.role(name)!
            let buffer = OptimizerState.buffer(role)
            for (i, t) in tensors.tensors.enumerated() {
                guard let piece = role.pieces[i] else { continue }
                let group = config.groups[t.group]
                StateEncoding.fill(group.kind.initialValue(of: name, group.hyper), count: piece.count, as: piece.dtype,
                                   into: role.bytes(buffer, tensor: i)!, absmax: role.absmax(buffer, tensor: i), map: role.map)
            }
            return (name, buffer)
        }
        scalars = [:]
    }

    /// Restores from captured buffers (a snapshot or checkpoint) laid out as `layout`.
    public init(params: AlignedBuffer, roles: [(name: String, buffer: AlignedBuffer)], layout: StateLayout, scalars: [String: [Double]] = [:]) {
        self.params = params
        self.roles = roles
        self.layout = layout
        self.scalars = scalars
    }

    /// A buffer for `role`, its bytes uninitialized.
    public static func buffer(_ role: StateLayout.Role) -> AlignedBuffer {
        AlignedBuffer(uninitializedCount: (role.byteCount + 3) / 4)
    }

    public func buffer(_ name: String) -> AlignedBuffer? { roles.first(where: { $0.name == name })?.buffer }

    /// Elements `range` (relative to its first) of tensor `tensor`'s state `name`, as float32.
    /// False if that tensor keeps no such state.
    public func read(_ name: String, tensor: Int, range: Range<Int>, into out: UnsafeMutablePointer<Float>) -> Bool {
        guard let buffer = buffer(name), let role = layout.role(name), let bytes = role.bytes(buffer, tensor: tensor) else { return false }
        StateEncoding.decode(bytes, as: role.pieces[tensor]!.dtype, absmax: role.absmax(buffer, tensor: tensor),
                             map: role.map, range: range, into: out)
        return true
    }

    /// The lane buffers of `run`, its group's state in the kernel's slots (`names` in slot order).
    func laneBuffers(_ run: StateLayout.Run, grads: UnsafePointer<Float>, slots names: [String]) -> LaneBuffers {
        LaneBuffers(params: params.pointer, grads: grads, state: names.map { name in
            guard let buffer = buffer(name), let role = layout.role(name) else { return nil }
            return run.slot(role, in: buffer)
        }, dtype: run.dtype, blockOrigin: run.range.lowerBound)
    }

    /// Tensor `tensor`'s float32 state in a tensor rule's slots (`names` in slot order).
    func tensorState(_ tensor: Int, slots names: [String]) -> [UnsafeMutablePointer<Float>?] {
        names.map { name in
            guard let buffer = buffer(name), let role = layout.role(name) else { return nil }
            return role.floats(buffer, tensor: tensor)
        }
    }

    /// Re-stores every state buffer as `next` lays it out (a PATCH of `state_dtype`; the roles'
    /// shapes are the same): each piece read as float32 and written back rounded or quantized.
    func convert(to next: StateLayout) {
        guard next != layout else { return }
        roles = roles.map { name, old in
            let from = layout.role(name)!, to = next.role(name)!
            let new = OptimizerState.buffer(to)
            for (i, (a, b)) in zip(from.pieces, to.pieces).enumerated() {
                guard let a, let b else { continue }
                let values = UnsafeMutablePointer<Float>.allocate(capacity: max(1, a.count))
                defer { values.deallocate() }
                StateEncoding.decode(from.bytes(old, tensor: i)!, as: a.dtype, absmax: from.absmax(old, tensor: i), map: from.map,
                                     range: 0..<a.count, into: values)
                StateEncoding.encode(values, count: b.count, as: b.dtype, into: to.bytes(new, tensor: i)!,
                                     absmax: to.absmax(new, tensor: i), map: to.map)
            }
            return (name, new)
        }
        layout = next
    }

    /// A deep copy: what a snapshot takes under the session lock before writing to disk unlocked.
    public func copy() -> OptimizerState {
        OptimizerState(params: params.copy(), roles: roles.map { ($0.name, $0.buffer.copy()) }, layout: layout, scalars: scalars)
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

    /// The q8 map state `name` is kept in (`.signed` where it names none).
    public static func map(of name: String) -> QuantizationMap {
        stateTensors.first { $0.name == name }?.map ?? .signed
    }
}
