import StepHTTP
import Foundation
import StepCore
import StepJSON

/// `POST /v1/sessions/{id}/steps` in its three encodings, and the two-phase step of a model
/// split over servers: `?prepare=1`, then `steps/commit` (or `steps/abort`).
extension StepService {
    func addStepRoutes(_ r: inout Router) {
        r.post("/v1/sessions/{id}/steps") { [self] head, p in
            let s = try session(p, head, .write)
            let options = try RequestOptions(head)
            let prepare = try head.intQuery("prepare", in: 0...1) == 1
            if let expected = options.expectedStep, options.idempotencyKey == nil, expected != s.step {
                // Refuse before reading a large body; a retry with a key is answered from the cache.
                throw SessionError.stale(expected: expected, current: s.step)
            }
            return try tensorUpload(head, key: "grads", begin: { try s.beginUpload(dtype: $0) }) { upload, fields in
                let loss = try fields.double("loss")
                let worker = try fields.int("worker"), micro = try fields.int("micro_batch")
                let basedOn = try fields.int("based_on")
                try fields.finish()
                if prepare {
                    guard worker == nil, micro == nil else {
                        throw HTTPError.unprocessable(field: worker != nil ? "worker" : "micro_batch", detail: "a prepared step is one whole gradient, not an accumulation contribution")
                    }
                    let prepared = try s.prepare(upload, loss: loss, expectedStep: options.expectedStep,
                                                 idempotencyKey: options.idempotencyKey, basedOn: basedOn)
                    return .json(prepared.json, headers: [.eTag: RequestOptions.etag(prepared.step)])
                }
                return try self.submit(s, upload, loss: loss, worker: worker, microBatch: micro, basedOn: basedOn, options)
            }
        }
        r.post("/v1/sessions/{id}/steps/commit") { [self] head, p in
            let s = try session(p, head, .write)
            return try .jsonBody(head, limit: 1 << 16) { body in
                var r = try JSONObjectReader(body, path: "")
                let norm = try r.double("norm")
                let skip = try r.bool("skip") ?? false
                try r.finish()
                guard (norm != nil) != skip else {
                    throw HTTPError.unprocessable(field: "norm", detail: "give the global gradient norm (\"norm\": a number >= 0) or {\"skip\": true}, not both or neither")
                }
                let started = DispatchTime.now().uptimeNanoseconds
                let outcome: StepOutcome
                do {
                    outcome = try s.commit(norm: norm)
                } catch {
                    self.stepsTotal.increment([s.tenant ?? "", "rejected"])
                    throw error
                }
                return try self.answer(s, outcome, started: started)
            }
        }
        r.post("/v1/sessions/{id}/steps/abort") { [self] head, p in
            let s = try session(p, head, .write)
            let aborted = s.abortPrepared()
            return .json(["step": .number(Double(s.step)), "aborted": .bool(aborted)])
        }
    }

    func submit(_ s: Session, _ upload: GradientUpload, loss: Double?, worker: Int?, microBatch: Int?, basedOn: Int?,
                _ options: RequestOptions) throws -> Response {
        let contribution = (worker != nil || microBatch != nil) ? Contribution(worker: worker ?? 0, microBatch: microBatch ?? 0) : nil
        let started = DispatchTime.now().uptimeNanoseconds
        let outcome: StepOutcome
        do {
            outcome = try s.submit(upload, loss: loss, contribution: contribution,
                                   expectedStep: options.expectedStep, idempotencyKey: options.idempotencyKey, basedOn: basedOn)
        } catch {
            stepsTotal.increment([s.tenant ?? "", "rejected"])
            throw error
        }
        return try answer(s, outcome, started: started)
    }

    /// Counts an applied (or replayed) step, makes it durable as the session's snapshot policy
    /// asks, and answers it.
    private func answer(_ s: Session, _ outcome: StepOutcome, started: UInt64) throws -> Response {
        stepSeconds.record(.nanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started)))
        if !outcome.replayed, let staleness = outcome.record?.staleness { stepStaleness.record(Double(staleness)) }
        if !outcome.replayed {
            stepsTotal.increment([s.tenant ?? "", !outcome.applied ? "accumulated" : outcome.record?.skipped == true ? "skipped" : "applied"])
        }
        // Also on a replay: a retry after a failed durable snapshot tries the snapshot again.
        try persistence.sessionChanged(s)
        return .json(outcome.json, headers: [.eTag: RequestOptions.etag(outcome.step)])
    }
}
