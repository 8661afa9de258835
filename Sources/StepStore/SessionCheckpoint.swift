import Foundation
import StepCore
import StepJSON
import StepKernels

/// A whole session as one safetensors file: the snapshot format and the checkpoint download.
///
/// Tensor names follow torch's state_dicts so a file maps one to one onto a model and its
/// optimizer: `params.<name>` is the parameter (a model `state_dict` entry), and
/// `state.<name>.<role>` its optimizer state under torch's key (`exp_avg`, `exp_avg_sq`,
/// `max_exp_avg_sq`, `momentum_buffer`, `square_avg`, `grad_avg`, `sum`). `__metadata__` holds
/// the format version, session id, step (which is also the schedule position), the config and
/// the history tail as JSON text, and the CRC-32C written by `SafetensorsWriter`.
public enum SessionCheckpoint {
    public static let format = "stepd-session-v1"

    /// The writer borrows the image's buffers: keep `image` alive until writing is done.
    public static func writer(_ image: SessionImage) throws -> SafetensorsWriter {
        let (config, _) = try SessionConfig.parse(image.config)
        var tensors: [SafetensorsWriter.Tensor] = []
        for t in config.layout.tensors {
            tensors.append(.init(name: "params.\(t.name)", shape: t.shape,
                                 floats: UnsafeBufferPointer(start: image.state.params.pointer + t.offset, count: t.count)))
        }
        for (role, buffer) in image.state.roles {
            for t in config.layout.tensors {
                tensors.append(.init(name: "state.\(t.name).\(role.rawValue)", shape: t.shape,
                                     floats: UnsafeBufferPointer(start: buffer.pointer + t.offset, count: t.count)))
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
            "config": image.config.text,
            "history": JSONValue.array(image.history.map(\.json)).text,
            "param_names": JSONValue.array(config.layout.tensors.map { .string($0.name) }).text,
        ]
        if let p = image.pending { metadata["accumulation"] = p.json.text }
        return try SafetensorsWriter(tensors: tensors, metadata: metadata)
    }

    /// Reads a checkpoint back, checking every tensor the config needs is there with its shape.
    /// - Parameter id: the id to give the session (a PUT's path); defaults to the file's own.
    public static func image(from file: SafetensorsFile, id: String? = nil) throws -> SessionImage {
        let meta = file.metadata
        guard meta["format"] == format else {
            throw SessionError.invalid(field: "__metadata__.format", detail: "expected \"\(format)\", got \(meta["format"].map { "\"\($0)\"" } ?? "nothing")")
        }
        guard let configText = meta["config"], let stepText = meta["step"], let step = Int(stepText), step >= 0 else {
            throw SessionError.invalid(field: "__metadata__", detail: "needs \"config\" and a non-negative \"step\"")
        }
        let configJSON: JSONValue
        do { configJSON = try JSONParser.parse(configText) } catch {
            throw SessionError.invalid(field: "__metadata__.config", detail: "is not JSON: \(error)")
        }
        let (config, _) = try SessionConfig.parse(configJSON)
        let n = config.layout.count
        func load(_ prefix: String, _ suffix: String) throws -> AlignedBuffer? {
            let buffer = AlignedBuffer(count: n)
            var found = 0
            for t in config.layout.tensors {
                let name = "\(prefix)\(t.name)\(suffix)"
                guard let info = file.tensor(named: name) else { continue }
                guard info.dtype == .f32, info.elementCount == t.count else {
                    throw SessionError.invalid(field: name, detail: "expected F32 of shape \(t.shape), got \(info.dtype.rawValue) \(info.shape)")
                }
                try file.copyBytes(of: info, into: UnsafeMutableRawBufferPointer(start: buffer.pointer + t.offset, count: t.count * 4))
                found += 1
            }
            if found == 0 && !config.layout.tensors.isEmpty { return nil }
            guard found == config.layout.tensors.count else {
                throw SessionError.invalid(field: "\(prefix)*\(suffix)", detail: "has \(found) of \(config.layout.tensors.count) tensors")
            }
            return buffer
        }
        guard let params = try load("params.", "") else {
            throw SessionError.invalid(field: "params.*", detail: "the file has no parameter tensors")
        }
        var roles: [(role: StateRole, buffer: AlignedBuffer)] = []
        for role in StateRole.allCases {
            if let b = try load("state.", ".\(role.rawValue)") { roles.append((role, b)) }
        }
        var history: [StepRecord] = []
        if let h = meta["history"], case .array(let items)? = try? JSONParser.parse(h) {
            history = items.compactMap { try? StepRecord(json: $0) }
        }
        var pending: PendingContributions? = nil
        if let text = meta["accumulation"] {
            guard let info = file.tensor(named: "accumulation.sum"), info.dtype == .f32, info.elementCount == n else {
                throw SessionError.invalid(field: "accumulation.sum", detail: "metadata lists pending contributions but the F32 [\(n)] sum tensor is missing")
            }
            let sum = AlignedBuffer(count: n)
            try file.copyBytes(of: info, into: UnsafeMutableRawBufferPointer(start: sum.pointer, count: n * 4))
            pending = try PendingContributions(sum: sum, json: try JSONParser.parse(text))
        }
        return SessionImage(id: id ?? meta["session_id"] ?? "restored", config: configJSON, step: step,
                            state: OptimizerState(params: params, roles: roles), history: history,
                            version: meta["version"].flatMap { UInt64($0) } ?? 0, pending: pending)
    }
}
