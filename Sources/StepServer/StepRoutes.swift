import Foundation
import StepCore
import StepJSON

/// `POST /v1/sessions/{id}/steps` in its three encodings.
extension StepService {
    func addStepRoutes(_ r: inout Router) {
        r.post("/v1/sessions/{id}/steps") { [self] head, p in
            let s = try session(p)
            let options = try RequestOptions(head)
            if let expected = options.expectedStep, options.idempotencyKey == nil, expected != s.step {
                // Refuse before reading a large body; a retry with a key is answered from the cache.
                throw SessionError.stale(expected: expected, current: s.step)
            }
            switch head.mediaType {
            case TensorMediaType.json?:
                return try .jsonBody(head, limit: maxBodyBytes) { body in
                    var r = try JSONObjectReader(body, path: "")
                    let upload = s.beginUpload()
                    guard let grads = r.value("grads") else {
                        throw HTTPError.unprocessable(field: "grads", detail: "grads: is required (an object of named gradient arrays)")
                    }
                    try TensorMediaType.fill(upload, from: grads, field: "grads")
                    let loss = try r.double("loss")
                    let worker = try r.int("worker"), micro = try r.int("micro_batch")
                    try r.finish()
                    return try self.submit(s, upload, loss: loss, worker: worker, microBatch: micro, options)
                }
            case TensorMediaType.raw?:
                let dtype = try TensorMediaType.dtype(head)
                let upload = s.beginUpload(dtype: dtype)
                if let n = head.contentLength, n != upload.expectedBytes {
                    throw HTTPError.unprocessable(field: "body", detail: "Content-Length is \(n); this session takes \(upload.expectedBytes) bytes (\(upload.layout.count) \(dtype.rawValue) values for \(upload.layout.tensors.map(\.name).joined(separator: ", ")) in declared order)")
                }
                let loss = try head.doubleQuery("loss")
                let worker = try head.intQuery("worker"), micro = try head.intQuery("micro_batch")
                return .readBody(GradientBodyHandler(upload: upload) { upload in
                    try self.submit(s, upload, loss: loss, worker: worker, microBatch: micro, options)
                })
            case TensorMediaType.safetensors?:
                let loss = try head.doubleQuery("loss")
                let worker = try head.intQuery("worker"), micro = try head.intQuery("micro_batch")
                return .collectBody(limit: maxBodyBytes) { bytes in
                    let upload = s.beginUpload()
                    try TensorMediaType.fill(upload, safetensors: bytes, field: "grads")
                    return try self.submit(s, upload, loss: loss, worker: worker, microBatch: micro, options)
                }
            default:
                throw HTTPError.unsupportedMediaType(head.headers["Content-Type"], supported: TensorMediaType.all)
            }
        }
    }

    func submit(_ s: Session, _ upload: GradientUpload, loss: Double?, worker: Int?, microBatch: Int?,
                _ options: RequestOptions) throws -> HTTPResponse {
        let contribution = (worker != nil || microBatch != nil) ? Contribution(worker: worker ?? 0, microBatch: microBatch ?? 0) : nil
        let started = DispatchTime.now().uptimeNanoseconds
        let outcome: StepOutcome
        do {
            outcome = try s.submit(upload, loss: loss, contribution: contribution,
                                   expectedStep: options.expectedStep, idempotencyKey: options.idempotencyKey)
        } catch {
            stepsTotal.increment(["rejected"])
            throw error
        }
        stepSeconds.observe(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
        if !outcome.replayed {
            stepsTotal.increment([!outcome.applied ? "accumulated" : outcome.record?.skipped == true ? "skipped" : "applied"])
        }
        // Also on a replay: a retry after a failed durable snapshot tries the snapshot again.
        try persistence.sessionChanged(s)
        return .json(outcome.json, headers: ["ETag": RequestOptions.etag(outcome.step)])
    }
}
