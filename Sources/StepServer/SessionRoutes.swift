import StepCore
import StepJSON

/// Creating, listing, reading, changing and deleting sessions, plus schedule and history.
extension StepService {
    func addSessionRoutes(_ r: inout Router) {
        r.post("/v1/sessions") { [self] head, _ in
            if head.mediaType == TensorMediaType.safetensors {
                let id = head.query("id")
                return .collectBody(limit: maxBodyBytes, budget: registry.budget) { bytes in try self.restore(checkpoint: bytes, id: id, replace: false) }
            }
            return try .jsonBody(head, limit: maxJSONBodyBytes) { body in try self.create(body) }
        }
        r.get("/v1/sessions") { [self] _, _ in
            let list: [JSONValue] = registry.all.map { s in
                let c = s.config
                return ["id": .string(s.id), "optimizer": .string(c.optimizer.kind.rawValue), "step": .number(Double(s.step)),
                        "param_count": .number(Double(s.parameterCount)), "bytes": .number(Double(s.byteCount))]
            }
            return .json(["sessions": .array(list)])
        }
        r.get("/v1/sessions/{id}") { [self] _, p in
            let s = try session(p)
            return .json(s.summary(), headers: ["ETag": RequestOptions.etag(s.step)])
        }
        r.patch("/v1/sessions/{id}") { [self] head, p in
            let s = try session(p)
            return try .jsonBody(head, limit: 1 << 20) { body in
                _ = try s.patch(body)
                try self.persistence.sessionChanged(s)
                return .json(s.summary())
            }
        }
        r.delete("/v1/sessions/{id}") { [self] _, p in
            let s = try session(p)
            try registry.remove(s) { persistence.sessionDeleted(s.id) }
            return .respond(.empty())
        }
        r.get("/v1/sessions/{id}/schedule") { [self] head, p in
            let s = try session(p)
            let n = try head.intQuery("preview", in: 0...100_000) ?? 0
            let c = s.config
            let step = s.step
            let names = c.groups.map(\.name)
            func lrs(_ values: [Double]) -> JSONValue { .object(JSONObject(zip(names, values.map { .number($0) }).map { ($0, $1) })) }
            let rows = s.schedulePreview(max(n, 1))
            var o = JSONObject()
            o["step"] = .number(Double(step))
            o["lr"] = .number(rows[0][0])
            o["lrs"] = lrs(rows[0])
            o["schedule"] = LearningRateSchedules.json(c.schedule)
            if n > 0 {
                o["preview"] = .array(rows.prefix(n).enumerated().map { k, row in
                    ["step": .number(Double(step + k + 1)), "lr": .number(row[0]), "lrs": lrs(row)]
                })
            }
            return .json(.object(o))
        }
        r.get("/v1/sessions/{id}/history") { [self] head, p in
            let s = try session(p)
            let last = try head.intQuery("last", in: 0...1_000_000)
            let records = s.historyRecords(last: last)
            return .json(["step": .number(Double(s.step)), "records": .array(records.map(\.json)), "health": s.health().json])
        }
        r.post("/v1/sessions/{id}/snapshots") { [self] _, p in
            let s = try session(p)
            let info = try persistence.snapshotNow(s)
            return .json(.object(JSONObject(info.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })), status: .created)
        }
        r.get("/v1/sessions/{id}/snapshots") { [self] _, p in
            let s = try session(p)
            let list = persistence.snapshots(of: s.id).map { info in
                JSONValue.object(JSONObject(info.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))
            }
            return .json(["snapshots": .array(list)])
        }
    }

    /// `POST /v1/sessions`: a conformance file's `session` object plus an optional `id`.
    func create(_ body: JSONValue) throws -> HTTPResponse {
        guard case .object(var o) = body else {
            throw HTTPError.unprocessable(detail: "expected a JSON object describing the session, got \(body.typeName)")
        }
        var id: String? = nil
        if let v = o["id"] {
            guard case .string(let s) = v else { throw HTTPError.unprocessable(field: "id", detail: "id: expected a string, got \(v.preview)") }
            id = s
            o["id"] = nil
        }
        let (config, inits) = try SessionConfig.parse(.object(o))
        let session = try registry.create(id: id, config: config) { id in
            Session(id: id, config: config, inits: inits, parallel: parallel)
        }
        do {
            try persistence.sessionCreated(session)
        } catch {
            try? registry.remove(session) { persistence.sessionDeleted(session.id) }
            throw error
        }
        return .json(session.summary(), status: .created,
                     headers: ["Location": "/v1/sessions/\(session.id)", "ETag": RequestOptions.etag(0)])
    }
}
