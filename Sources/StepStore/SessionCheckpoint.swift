import Foundation
import StepCore
import StepJSON
import StepKernels
import StepTensors

/// A whole session as one safetensors file: the snapshot format and the checkpoint download.
///
/// Tensor names follow torch's state_dicts so a file maps one to one onto a model and its
/// optimizer: `params.<name>` is the parameter (a model `state_dict` entry), and
/// `state.<name>.<role>` its optimizer state under torch's key (`exp_avg`, `exp_avg_sq`,
/// `momentum_buffer`, `ax`, `z`, ...: each optimizer descriptor's `stateTensors`), in the dtype
/// the session keeps it in (F32, BF16, or for q8 bitsandbytes' `state<k>`, `absmax<k>`,
/// `qmap<k>`; `stateEntries`). `__metadata__`
/// holds the format version, session id, step (which is also the schedule position), the config
/// and the history tail as JSON text (with `history_total`, the records ever appended), the optimizer's per-group scalars (`optimizer_scalars`,
/// e.g. NAdam's `mu_product`), the owning tenant if any, and the CRC-32C written by
/// `SafetensorsWriter`.
public enum SessionCheckpoint {
    public static let format = "stepd-session-v1"

    /// The writer borrows the image's buffers: keep `image` alive until writing is done.
    public static func writer(_ image: SessionImage) throws -> SafetensorsWriter {
        let config = image.config
        var tensors: [SafetensorsWriter.Tensor] = []
        for t in config.layout.tensors {
            tensors.append(.init(name: "params.\(t.name)", shape: t.shape,
                                 floats: UnsafeBufferPointer(start: image.state.params.pointer + t.offset, count: t.count)))
        }
        let layout = image.state.layout
        for (role, buffer) in image.state.roles {
            guard let r = layout.role(role) else { continue }
            for (i, t) in config.layout.tensors.enumerated() {
                guard let piece = r.pieces[i] else { continue }
                for e in stateEntries(t, piece, role: role, config: config) {
                    let source: UnsafeRawPointer
                    switch e.part {
                    case .values: source = UnsafeRawPointer(r.bytes(buffer, tensor: i)!)
                    case .absmax: source = UnsafeRawPointer(r.absmax(buffer, tensor: i)!)
                    case .map: source = UnsafeRawPointer(r.map.values)
                    }
                    tensors.append(.init(name: e.name, dtype: e.dtype, shape: e.shape,
                                         bytes: UnsafeRawBufferPointer(start: source, count: e.byteCount)))
                }
            }
        }
        if let p = image.pending {
            tensors.append(.init(name: "accumulation.sum", shape: [config.layout.count],
                                 floats: UnsafeBufferPointer(start: p.sum.pointer, count: p.sum.count)))
        }
        var metadata: [String: String] = [
            "format": format,
            "session_id": image.id,
            "step": String(image.step),
            "version": String(image.version),
            "config": config.json.text,
            "history": JSONValue.array(image.history.map(\.json)).text,
            "history_total": String(image.historyTotal),
            "param_names": JSONValue.array(config.layout.tensors.map { .string($0.name) }).text,
        ]
        if let p = image.pending { metadata["accumulation"] = p.json.text }
        if !layout.isFloat32 {
            var kinds: [any OptimizerDescriptor.Type] = []
            for g in config.groups where !kinds.contains(where: { ObjectIdentifier($0) == ObjectIdentifier(g.kind) }) { kinds.append(g.kind) }
            metadata["state_names"] = JSONValue.object(JSONObject(kinds.map { ($0.type, .array($0.slotNames.map { .string($0) })) })).text
        }
        if !image.state.scalars.isEmpty { metadata["optimizer_scalars"] = image.state.scalarsJSON(config).text }
        if let tenant = image.tenant { metadata["tenant"] = tenant }
        return try SafetensorsWriter(tensors: tensors, metadata: metadata)
    }

    /// The session config a checkpoint declares, parsed and validated like a create's. Cheap
    /// (no tensor is touched), so a server can check its limits before `image` allocates.
    public static func config(of file: SafetensorsFile) throws -> SessionConfig {
        let meta = file.metadata
        guard meta["format"] == format else {
            throw SessionError.invalid(field: "__metadata__.format", detail: "expected \"\(format)\", got \(meta["format"].map { "\"\($0.prefix(80))\"" } ?? "nothing")")
        }
        guard let configText = meta["config"] else {
            throw SessionError.invalid(field: "__metadata__.config", detail: "is required (the session config as JSON text)")
        }
        let configJSON: JSONValue
        do { configJSON = try JSONParser.parse(configText) } catch {
            throw SessionError.invalid(field: "__metadata__.config", detail: "is not JSON: \(error)")
        }
        return try SessionConfig.parse(configJSON).0
    }

    /// Reads a checkpoint back. Everything is checked before anything is allocated, whether or
    /// not the file carries a checksum (a checksum proves the bytes are the ones written, not
    /// that whoever wrote them was honest): every number in the metadata is range-checked, and
    /// every tensor must be one this config has, F32 with exactly its declared shape. Buffers
    /// are then at most as large as the file itself.
    /// - Parameters:
    ///   - id: the id to give the session (a PUT's path); defaults to the file's own.
    ///   - config: `config(of: file)`, if the caller has it already (it checked limits against
    ///     it), so the metadata's config is parsed once.
    ///   - verifyingChecksum: require the file's checksum and check it while the tensors are
    ///     read (one pass; a snapshot restore). Without it the checksum is not looked at.
    public static func image(from file: SafetensorsFile, id: String? = nil, config: SessionConfig? = nil,
                             verifyingChecksum: Bool = false) throws -> SessionImage {
        do {
            return try decode(file, id: id, config: config, verifyingChecksum: verifyingChecksum)
        } catch let error where verifyingChecksum && !(error is SafetensorsError) {
            // The metadata is checked before the data is read (and the checksum with it): a file
            // refused for its metadata may simply be damaged, and then that is what to report.
            try file.verifyChecksum()
            throw error
        }
    }

    private static func decode(_ file: SafetensorsFile, id: String?, config: SessionConfig?,
                               verifyingChecksum: Bool) throws -> SessionImage {
        let meta = file.metadata
        let config = try config ?? Self.config(of: file)
        guard let stepText = meta["step"], let step = Int(stepText), (0...maxStep).contains(step) else {
            throw SessionError.invalid(field: "__metadata__.step", detail: "expected an integer in 0...\(maxStep), got \(meta["step"].map { "\"\($0.prefix(40))\"" } ?? "nothing")")
        }
        var version: UInt64 = 0
        if let text = meta["version"] {
            guard let v = UInt64(text) else {
                throw SessionError.invalid(field: "__metadata__.version", detail: "expected an unsigned integer, got \"\(text.prefix(40))\"")
            }
            version = v
        }
        let tenant = meta["tenant"]
        if let tenant, !TenantName.isValid(tenant) {
            throw SessionError.invalid(field: "__metadata__.tenant", detail: "expected a tenant name (\(TenantName.expectation)), got \"\(tenant.prefix(80))\"")
        }
        let n = config.layout.count

        // Which tensors the file has, checked against the config before any allocation.
        let layout = config.stateLayout
        var expected: [String: (dtype: SafetensorsDType, shape: [Int])] = [:]
        for t in config.layout.tensors { expected["params.\(t.name)"] = (.f32, t.shape) }
        for role in layout.all {
            for (t, piece) in zip(config.layout.tensors, role.pieces) {
                guard let piece else { continue }
                for e in stateEntries(t, piece, role: role.name, config: config) { expected[e.name] = (e.dtype, e.shape) }
            }
        }
        if meta["accumulation"] != nil { expected["accumulation.sum"] = (.f32, [n]) }
        for info in file.tensors {
            guard let want = expected[info.name] else {
                throw SessionError.invalid(field: info.name, detail: "is not a tensor of this session's checkpoint (params.<name>, state.<name>.<role> (state<k>, absmax<k>, qmap<k> for q8 state) or accumulation.sum for the config's tensors and state_dtype)")
            }
            guard info.dtype == want.dtype, info.shape == want.shape else {
                throw SessionError.invalid(field: info.name, detail: "expected \(want.dtype.rawValue) of shape \(want.shape), got \(info.dtype.rawValue) \(info.shape)")
            }
        }
        /// Whether the file has all of `names` (or none: nil is all).
        func complete(_ names: [String], _ what: String) throws -> Bool {
            let found = names.count { file.tensor(named: $0) != nil }
            guard found == names.count || found == 0 else {
                throw SessionError.invalid(field: what, detail: "has \(found) of \(names.count) tensors")
            }
            return found > 0 || names.isEmpty
        }
        guard try complete(config.layout.tensors.map { "params.\($0.name)" }, "params.*") else {
            throw SessionError.invalid(field: "params.*", detail: "the file has no parameter tensors")
        }
        let presentRoles = try layout.all.filter { role in
            let names = zip(config.layout.tensors, role.pieces).flatMap { t, piece in
                piece.map { stateEntries(t, $0, role: role.name, config: config).map(\.name) } ?? []
            }
            return try complete(names, "state.*.\(role.name)")
        }
        var scalars: [String: [Double]] = [:]
        if let text = meta["optimizer_scalars"] {
            do { scalars = try OptimizerState.scalars(from: try JSONParser.parse(text), config: config) } catch {
                throw SessionError.invalid(field: "__metadata__.optimizer_scalars", detail: "\(error)")
            }
        }
        var history: [StepRecord] = []
        if let h = meta["history"] {
            guard case .array(let items)? = try? JSONParser.parse(h) else {
                throw SessionError.invalid(field: "__metadata__.history", detail: "expected a JSON array of step records")
            }
            history = try items.enumerated().map { i, item in
                do { return try StepRecord(json: item) } catch {
                    throw SessionError.invalid(field: "__metadata__.history[\(i)]", detail: "\(error)")
                }
            }
        }
        var historyTotal = history.count
        if let text = meta["history_total"] {
            guard let total = Int(text), (history.count...maxStep).contains(total) else {
                throw SessionError.invalid(field: "__metadata__.history_total", detail: "expected an integer in \(history.count)...\(maxStep) (at least the \(history.count) records the file holds), got \"\(text.prefix(40))\"")
            }
            historyTotal = total
        }
        var pendingJSON: JSONValue? = nil
        if let text = meta["accumulation"] {
            guard file.tensor(named: "accumulation.sum") != nil else {
                throw SessionError.invalid(field: "accumulation.sum", detail: "metadata lists pending contributions but the F32 [\(n)] sum tensor is missing")
            }
            do { pendingJSON = try JSONParser.parse(text) } catch {
                throw SessionError.invalid(field: "__metadata__.accumulation", detail: "is not JSON: \(error)")
            }
        }

        // Buffers first, then one pass over the file reading every tensor into its place (and,
        // when asked, checking the checksum on the way).
        // Every value of these is read from the file (the tensors tile each buffer), so they
        // start uninitialized: their pages are first touched by the reads.
        let params = AlignedBuffer(uninitializedCount: n)
        let roles = presentRoles.map { role in (name: role.name, buffer: OptimizerState.buffer(role)) }
        let sum = pendingJSON != nil ? AlignedBuffer(uninitializedCount: n) : nil
        // q8 maps are read aside and must be stepd's: the codes mean nothing under another map.
        let maps = AlignedBuffer(uninitializedCount: 256 * max(1, presentRoles.reduce(0) { $0 + $1.pieces.count { $0?.dtype == .q8 } }))
        var destinations: [String: UnsafeMutableRawBufferPointer] = [:]
        var mapChecks: [(name: String, at: UnsafeMutablePointer<Float>, map: QuantizationMap)] = []
        for t in config.layout.tensors {
            destinations["params.\(t.name)"] = UnsafeMutableRawBufferPointer(start: params.pointer + t.offset, count: t.count * 4)
        }
        for (role, (_, buffer)) in zip(presentRoles, roles) {
            for (i, t) in config.layout.tensors.enumerated() {
                guard let piece = role.pieces[i] else { continue }
                for e in stateEntries(t, piece, role: role.name, config: config) {
                    let start: UnsafeMutableRawPointer
                    switch e.part {
                    case .values: start = role.bytes(buffer, tensor: i)!
                    case .absmax: start = UnsafeMutableRawPointer(role.absmax(buffer, tensor: i)!)
                    case .map:
                        let at = maps.pointer + 256 * mapChecks.count
                        mapChecks.append((e.name, at, role.map))
                        start = UnsafeMutableRawPointer(at)
                    }
                    destinations[e.name] = UnsafeMutableRawBufferPointer(start: start, count: e.byteCount)
                }
            }
        }
        if let sum { destinations["accumulation.sum"] = UnsafeMutableRawBufferPointer(start: sum.pointer, count: n * 4) }
        try withExtendedLifetime((params, roles, sum, maps)) {
            _ = try file.load(verifyingChecksum: verifyingChecksum) { destinations[$0.name] }
        }
        for check in mapChecks where !(0..<256).allSatisfy({ check.at[$0].bitPattern == check.map.values[$0].bitPattern }) {
            throw SessionError.invalid(field: check.name, detail: "is not bitsandbytes' \(check.map.isSigned ? "signed" : "unsigned") dynamic map, the one stepd's q8 state is coded in")
        }
        var pending: PendingContributions? = nil
        if let pendingJSON, let sum {
            pending = try PendingContributions(sum: sum, json: pendingJSON)
        }
        return SessionImage(id: id ?? meta["session_id"] ?? "restored", config: config, step: step,
                            state: OptimizerState(params: params, roles: roles, layout: layout, scalars: scalars), history: history,
                            historyTotal: historyTotal, version: version, pending: pending, tenant: tenant)
    }

    /// What one tensor's piece of state `role` is stored as: under torch's name in float32 or
    /// bfloat16, in its own shape (Adafactor's `row_var` per row), or, in q8, as bitsandbytes'
    /// optimizer names it: `state<k>` (uint8 codes, the tensor's shape), `absmax<k>` (float32
    /// per 256-element block) and `qmap<k>` (the 256-value map), k counting from 1 the state
    /// tensors of the tensor's optimizer, as `__metadata__.state_names` lists them per optimizer
    /// (exp_avg is state1 and exp_avg_sq state2, as in bitsandbytes' Adam, whatever else the
    /// session runs).
    static func stateEntries(_ t: TensorSpec, _ piece: StateLayout.Piece, role: String, config: SessionConfig) -> [StateEntry] {
        let prefix = "state.\(t.name)."
        let index = config.groups[t.group].kind.slotNames.firstIndex(of: role) ?? 0
        switch piece.dtype {
        case .f32: return [StateEntry(name: prefix + role, dtype: .f32, shape: piece.shape, byteCount: piece.count * 4, part: .values)]
        case .bf16: return [StateEntry(name: prefix + role, dtype: .bf16, shape: piece.shape, byteCount: piece.count * 2, part: .values)]
        case .q8:
            let k = index + 1
            return [StateEntry(name: prefix + "state\(k)", dtype: .u8, shape: piece.shape, byteCount: piece.count, part: .values),
                    StateEntry(name: prefix + "absmax\(k)", dtype: .f32, shape: [piece.blocks], byteCount: piece.blocks * 4, part: .absmax),
                    StateEntry(name: prefix + "qmap\(k)", dtype: .f32, shape: [256], byteCount: 256 * 4, part: .map)]
        }
    }

    struct StateEntry {
        enum Part { case values, absmax, map }
        let name: String
        let dtype: SafetensorsDType
        let shape: [Int]
        let byteCount: Int
        let part: Part
    }

    /// The largest step a checkpoint may claim: far beyond any real run, and small enough that
    /// step arithmetic (schedules, `step + 1`) cannot overflow.
    public static let maxStep = 1 << 53
}
