import StepHTTP
import Foundation
import StepCore
import StepJSON

/// `POST /v1/sessions/{id}/steps` in its three encodings.
extension StepService {
    func addStepRoutes(_ r: inout Router) {
        r.post("/v1/sessions/{id}/steps") { [self] head, p in
            let s = try session(p, head, .write)
            let options = try RequestOptions(head)
            if let expected = options.expectedStep, options.idempotencyKey == nil, expected != s.step {
                // Refuse before reading a large body; a retry with a key is answered from the cache.
                throw SessionError.stale(expected: expected, current: s.step)
            }
            return try tensorUpload(head, key: "grads", begin: { try s.beginUpload(dtype: $0) }) { upload, fields in
                let loss = try fields.double("loss")
                let worker = try fields.int("worker"), micro = try fields.int("micro_batch")
                try fields.finish()
                return try self.submit(s, upload, loss: loss, worker: worker, microBatch: micro, options)
            }
        }
    }

    func submit(_ s: Session, _ upload: GradientUpload, loss: Double?, worker: Int?, microBatch: Int?,
                _ options: RequestOptions) throws -> Response {
        let contribution = (worker != nil || microBatch != nil) ? Contribution(worker: worker ?? 0, microBatch: microBatch ?? 0) : nil
        let started = DispatchTime.now().uptimeNanoseconds
        let outcome: StepOutcome
        do {
            outcome = try s.submit(upload, loss: loss, contribution: contribution,
                                   expectedStep: options.expectedStep, idempotencyKey: options.idempotencyKey)
        } catch {
            stepsTotal.increment([s.tenant ?? "", "rejected"])
            throw error
        }
        stepSeconds.record(.nanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started)))
        if !outcome.replayed {
            stepsTotal.increment([s.tenant ?? "", !outcome.applied ? "accumulated" : outcome.record?.skipped == true ? "skipped" : "applied"])
        }
        // Also on a replay: a retry after a failed durable snapshot tries the snapshot again.
        try persistence.sessionChanged(s)
        return .json(outcome.json, headers: [.eTag: RequestOptions.etag(outcome.step)])
    }
}
