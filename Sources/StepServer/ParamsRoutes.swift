import StepHTTP
import StepCore
import StepJSON
import StepStore
import StepTensors

/// `GET/PUT /v1/sessions/{id}/params` in the three tensor encodings. The ETag is the step.
/// `GET ...?view=NAME` reads one of the optimizer's views instead (ASGD's `average`,
/// schedule-free's `eval`), in the same encodings. `?dtype=bf16|f16` narrows the download to
/// 16-bit values (round to nearest even): half the bytes in raw and safetensors; in JSON the
/// numbers are the rounded values.
extension StepService {
    func addParamsRoutes(_ r: inout Router) {
        r.get("/v1/sessions/{id}/params") { [self] head, p in
            let s = try session(p, head, .read)
            let dtype = try TensorMediaType.dtype(head)
            guard let type = head.negotiate(TensorMediaType.all) else {
                throw HTTPError(.notAcceptable, detail: "Accept \(head.headers[.accept] ?? "") offers none of \(TensorMediaType.all.joined(separator: ", "))")
            }
            switch type {
            case TensorMediaType.raw:
                let reader = try s.paramsReader(names: head.names, view: head.query("view"), dtype: dtype)
                let stream = ResponseBodyStream(length: reader.byteCount) { offset, buffer in try reader.read(at: offset, into: buffer) }
                return .respond(.stream(stream, contentType: type, headers: [.eTag: RequestOptions.etag(reader.step)]))
            case TensorMediaType.safetensors:
                // The header first, then the tensors straight from the live buffer, as for raw.
                let reader = try s.paramsReader(names: head.names, view: head.query("view"), dtype: dtype)
                let header = SafetensorsHeader.encode(metadata: ["step": String(reader.step), "session": s.id].merging(reader.view.map { ["view": $0] } ?? [:]) { a, _ in a },
                                                      tensors: reader.tensors.map { ($0.name, SafetensorsDType(dtype), $0.shape, $0.count * dtype.byteWidth) }).bytes
                let stream = ResponseBodyStream(length: header.count + reader.byteCount) { offset, buffer in
                    guard offset < header.count else { return try reader.read(at: offset - header.count, into: buffer) }
                    let n = min(buffer.count, header.count - offset)
                    header.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: n) }
                    return n
                }
                return .respond(.stream(stream, contentType: type, headers: [.eTag: RequestOptions.etag(reader.step)]))
            default:
                var (step, tensors) = try s.readParams(names: head.names, view: head.query("view"))
                if dtype != .f32 { tensors = tensors.map { ($0.0, $0.1.map { dtype.rounded($0) }) } }
                var w = JSONWriter(reservingCapacity: 64 + tensors.reduce(0) { $0 + $1.1.count * 12 })
                w.raw("{\"step\":\(step),\"params\":")
                TensorMediaType.jsonObject(tensors, into: &w)
                w.raw("}")
                return .respond(.json(w, headers: [.eTag: RequestOptions.etag(step)]))
            }
        }
        r.put("/v1/sessions/{id}/params") { [self] head, p in
            let s = try session(p, head, .write)
            let options = try RequestOptions(head)
            return try tensorUpload(head, key: "params", begin: { try s.beginParamsUpload(dtype: $0) }) { upload, fields in
                try fields.finish()
                let step = try s.replaceParams(upload, expectedStep: options.expectedStep)
                try self.persistence.sessionChanged(s)
                return .json(["step": .number(Double(step)), "replaced": .array(upload.touchedTensors.map { .string($0.name) })],
                             headers: [.eTag: RequestOptions.etag(step)])
            }
        }
    }
}
