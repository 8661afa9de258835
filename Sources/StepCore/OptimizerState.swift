import StepJSON
import StepKernels

/// The master parameters and optimizer state of a session: one aligned buffer per state tensor
/// (by torch's state name), each covering every tensor in declared order as `layout` places
/// them (float32, bfloat16 or q8 codes and absmax per tensor), and the optimizer's per-group
/// scalars.
public final class OptimizerState: @unchecked Sendable {
    public let params: AlignedBuffer
    /// Each state buffer holds `layout.byteCount` bytes (an AlignedBuffer of floats rounded up).
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
        let kind = config.optimizer.kind
        let layout = config.stateLayout
        self.layout = layout
        roles = config.stateNames.map { name in
            let buffer = OptimizerState.buffer(layout)
            let map = kind.map(of: name)
            for (t, span) in zip(tensors.tensors, layout.spans) {
                let v = kind.initialValue(of: name, config.groups[t.group].hyper)
                StateEncoding.fill(v, count: span.count, as: span.dtype, into: OptimizerState.bytes(buffer, span),
                                   absmax: OptimizerState.absmax(buffer, span), map: map)
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

    /// A state buffer for `layout`, its bytes uninitialized.
    public static func buffer(_ layout: StateLayout) -> AlignedBuffer {
        AlignedBuffer(uninitializedCount: (layout.byteCount + 3) / 4)
    }

    /// The first byte of `span` in `buffer`.
    public static func bytes(_ buffer: AlignedBuffer, _ span: StateLayout.Span) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(buffer.pointer) + span.byteOffset
    }

    /// A q8 span's absmax per block in `buffer`; nil for other dtypes.
    public static func absmax(_ buffer: AlignedBuffer, _ span: StateLayout.Span) -> UnsafeMutablePointer<Float>? {
        span.dtype == .q8 ? (UnsafeMutableRawPointer(buffer.pointer) + span.absmaxOffset).assumingMemoryBound(to: Float.self) : nil
    }

    public func buffer(_ name: String) -> AlignedBuffer? { roles.first(where: { $0.name == name })?.buffer }

    /// Elements `range` (relative to its first) of tensor `tensor`'s state `name`, as float32.
    /// False if the session keeps no such state.
    public func read(_ name: String, tensor: Int, range: Range<Int>, map: QuantizationMap, into out: UnsafeMutablePointer<Float>) -> Bool {
        guard let buffer = buffer(name) else { return false }
        let span = layout.spans[tensor]
        StateEncoding.decode(OptimizerState.bytes(buffer, span), as: span.dtype, absmax: OptimizerState.absmax(buffer, span),
                             map: map, range: range, into: out)
        return true
    }

    /// The buffers of `grads` and the state for each of the layout's runs, the state in the
    /// kernel's slots (`names` in slot order, with their q8 maps).
    func laneBuffers(grads: UnsafePointer<Float>, slots names: [String], maps: [QuantizationMap]) -> [LaneBuffers] {
        let buffers = names.map { buffer($0) }
        return layout.runs.map { run in
            LaneBuffers(params: params.pointer, grads: grads, state: zip(buffers, maps).map { b, map in
                b.map { run.slot(in: UnsafeMutableRawPointer($0.pointer), map: map) }
            }, dtype: run.dtype, blockOrigin: run.range.lowerBound)
        }
    }

    /// Re-stores every state buffer as `next` lays it out (a PATCH of `state_dtype`): each tensor
    /// read as float32 and written back rounded or quantized, one tensor at a time.
    func convert(to next: StateLayout, maps: [String: QuantizationMap]) {
        guard next != layout else { return }
        roles = roles.map { name, old in
            let new = OptimizerState.buffer(next)
            let map = maps[name] ?? .signed
            for (a, b) in zip(layout.spans, next.spans) {
                let values = UnsafeMutablePointer<Float>.allocate(capacity: max(1, a.count))
                defer { values.deallocate() }
                StateEncoding.decode(OptimizerState.bytes(old, a), as: a.dtype, absmax: OptimizerState.absmax(old, a), map: map,
                                     range: 0..<a.count, into: values)
                StateEncoding.encode(values, count: b.count, as: b.dtype, into: OptimizerState.bytes(new, b),
                                     absmax: OptimizerState.absmax(new, b), map: map)
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
    public var byteCount: Int { params.byteCount + roles.reduce(0) { $0 + $1.buffer.byteCount } }

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

    /// The q8 map state `name` is kept in (`.signed` where it names none).
    public static func map(of name: String) -> QuantizationMap {
        stateTensors.first { $0.name == name }?.map ?? .signed
    }
}
