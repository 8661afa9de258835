import StepHTTP
import StepCore
import StepJSON
import StepStore
import StepTensors

/// The three tensor encodings of request and response bodies (DESIGN.md): JSON for small
/// models and curl, raw little-endian float32 in declared order, and safetensors.
enum TensorMediaType {
    static let json = "application/json"
    static let raw = "application/octet-stream"
    static let safetensors = "application/vnd.safetensors"
    static let all = [json, raw, safetensors]

    static func dtype(_ head: HTTPRequestHead) throws -> GradientDType {
        guard let raw = head.query("dtype") else { return .f32 }
        guard let d = GradientDType(rawValue: raw.lowercased()) ?? (raw.lowercased() == "float32" ? .f32 : nil) else {
            throw HTTPError.unprocessable(field: "dtype", detail: "query parameter dtype must be f32, bf16 or f16, got \"\(raw.prefix(20))\"")
        }
        return d
    }

    /// `{"name": [numbers...], ...}` into an upload, read straight from the parser's tree into
    /// the upload's buffer; `field` prefixes error paths (`grads`, `params`).
    static func fill(_ upload: GradientUpload, from tensors: JSONNode, field: String) throws {
        guard tensors.isObject else {
            throw HTTPError.unprocessable(field: field, detail: "\(field): expected an object of named tensors, got \(tensors.value.typeName)")
        }
        for (name, array) in tensors.members {
            let path = "\(field).\(name.prefix(80))"
            guard array.isArray else {
                throw HTTPError.unprocessable(field: path, detail: "\(path): expected an array of numbers, got \(array.value.preview)")
            }
            try upload.set(name, field: path) { (dst) throws(SessionError) in
                guard array.count == dst.count else {
                    let t = upload.layout.tensor(named: name)!
                    throw .invalid(field: path, detail: "tensor \"\(name)\" has shape \(t.shape) (\(t.count) values), got \(array.count)")
                }
                if let bad = array.readFloats(into: dst) {
                    throw .invalid(field: "\(path)[\(bad)]", detail: "\(path)[\(bad)]: expected a number, got \(array[bad].value.preview)")
                }
            }
        }
    }

    /// A safetensors body's tensors into an upload (F32, F16 or BF16 each).
    static func fill(_ upload: GradientUpload, safetensors bytes: [UInt8], field: String) throws {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(bytes: bytes) } catch {
            throw HTTPError.unprocessable(field: "body", detail: "not a valid safetensors file: \(error)")
        }
        for t in file.tensors {
            let dtype: GradientDType
            switch t.dtype {
            case .f32: dtype = .f32
            case .f16: dtype = .f16
            case .bf16: dtype = .bf16
            default:
                throw HTTPError.unprocessable(field: "\(field).\(t.name)", detail: "tensor \"\(t.name)\" has dtype \(t.dtype.rawValue); F32, F16 or BF16 expected")
            }
            if let spec = upload.layout.tensor(named: t.name), t.shape != spec.shape {
                throw HTTPError.unprocessable(field: "\(field).\(t.name)", detail: "tensor \"\(t.name)\" has shape \(t.shape), the session declares \(spec.shape)")
            }
            try file.withUnsafeBytes(of: t) { raw in try upload.set(t.name, bytes: raw, dtype: dtype, field: "\(field).\(t.name)") }
        }
    }

    /// Named tensors as a JSON object, written straight from float buffers.
    static func jsonObject(_ tensors: [(TensorSpec, [Float])], into w: inout JSONWriter) {
        w.raw("{")
        for (i, (t, values)) in tensors.enumerated() {
            if i > 0 { w.raw(",") }
            w.string(t.name)
            w.raw(":")
            values.withUnsafeBufferPointer { w.floats($0) }
        }
        w.raw("}")
    }
}

extension SafetensorsDType {
    init(_ dtype: GradientDType) {
        switch dtype {
        case .f32: self = .f32
        case .bf16: self = .bf16
        case .f16: self = .f16
        }
    }
}
