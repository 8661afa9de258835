import StepCore
import StepJSON
import StepStore

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

    /// `{"name": [numbers...], ...}` into an upload; `field` prefixes error paths (`grads`, `params`).
    static func fill(_ upload: GradientUpload, from tensors: JSONValue, field: String) throws {
        guard case .object(let o) = tensors else {
            throw HTTPError.unprocessable(field: field, detail: "\(field): expected an object of named tensors, got \(tensors.typeName)")
        }
        for (name, value) in o.pairs {
            let path = "\(field).\(name)"
            guard case .array(let items) = value else {
                throw HTTPError.unprocessable(field: path, detail: "\(path): expected an array of numbers, got \(value.preview)")
            }
            var numbers = [Double]()
            numbers.reserveCapacity(items.count)
            for (i, x) in items.enumerated() {
                numbers.append(try JSONObjectReader.number(x, field: "\(path)[\(i)]"))
            }
            try upload.set(name, values: numbers, field: path)
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
            if let spec = upload.layout.tensor(named: t.name), t.elementCount != spec.count {
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
