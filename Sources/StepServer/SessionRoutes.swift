import StepHTTP
import StepCore
import StepJSON

/// Creating, listing, reading, changing and deleting sessions, plus schedule and history.
extension StepService {
    func addSessionRoutes(_ r: inout Router) {
        r.post("/v1/sessions") { [self] head, _ in
            let principal = try caller(head)
            try requireWrite(principal, "create them")
            if head.mediaType == TensorMediaType.safetensors {
                let id = head.query("id")
                return .collectBody(limit: maxBodyBytes, budget: registry.budget) { bytes in try self.restore(checkpoint: bytes, id: id, replace: false, by: principal) }
            }
            return try .jsonBody(head, limit: maxJSONBodyBytes) { body in try self.create(body, by: principal) }
        }
        r.put("/v1/sessions/{id}") { [self] head, p in
            let id = try p.require("id")
            let principal = try caller(head)
            try requireWrite(principal, "create them")
            return try .jsonBody(head, limit: maxJSONBodyBytes) { body in try self.create(body, by: principal, pathID: id) }
        }
        r.post("/v1/sessions/{id}/move") { [self] head, p in
            let s = try session(p, head, .write)
            return try .jsonBody(head, limit: 1 << 16) { body in
                var r = try JSONObjectReader(body, path: "")
                let to = try r.string("to")
                try r.finish()
                guard let to, let target = MoveTarget(to) else {
                    throw HTTPError.unprocessable(field: "to", detail: "expected \(MoveTarget.expectation), got \(to.map { "\"\($0.prefix(120))\"" } ?? "nothing")")
                }
                try s.beginMove(to: target)
                try self.persistence.moveChanged(s)
                return .json(self.describe(s))
            }
        }
        r.delete("/v1/sessions/{id}/move") { [self] head, p in
            let s = try session(p, head, .write)
            s.cancelMove()
            try persistence.moveChanged(s)
            return .json(describe(s))
        }
        r.get("/v1/sessions") { [self] head, _ in
            let list: [JSONValue] = registry.all(for: try caller(head)).map { s in
                let c = s.config
                var o = JSONObject()
                o["id"] = .string(s.id)
                o["optimizer"] = .string(c.optimizer.type)
                o["step"] = .number(Double(s.step))
                o["param_count"] = .number(Double(s.parameterCount))
                o["bytes"] = .number(Double(s.byteCount))
                if let tenant = s.tenant { o["tenant"] = .string(tenant) }
                return .object(o)
            }
            return .json(["sessions": .array(list)])
        }
        r.get("/v1/sessions/{id}") { [self] head, p in
            let s = try session(p, head, .read)
            return .json(describe(s), headers: [.eTag: RequestOptions.etag(s.step)])
        }
        r.patch("/v1/sessions/{id}") { [self] head, p in
            let s = try session(p, head, .write)
            return try .jsonBody(head, limit: 1 << 20) { body in
                _ = try s.patch(body)
                try self.persistence.sessionChanged(s)
                return .json(self.describe(s))
            }
        }
        r.delete("/v1/sessions/{id}") { [self] head, p in
            let s = try session(p, head, .write)
            try registry.remove(s) { persistence.sessionDeleted(s.id, movedAway: $0) }
            return .respond(.empty())
        }
        r.get("/v1/sessions/{id}/schedule") { [self] head, p in
            let s = try session(p, head, .read)
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
            let s = try session(p, head, .read)
            let last = try head.intQuery("last", in: 0...1_000_000)
            // A poller (the dashboard) passes the `total` it last saw and gets only what is new.
            let after = try head.intQuery("after")
            let page = s.historyPage(after: after, last: last)
            return .json(["step": .number(Double(s.step)), "total": .number(Double(page.total)),
                          "records": .array(page.records.map(\.json)), "health": page.health.json])
        }
        r.post("/v1/sessions/{id}/snapshots") { [self] head, p in
            let s = try session(p, head, .write)
            let info = try persistence.snapshotNow(s)
            return .json(.object(JSONObject(info.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })), status: .created)
        }
        r.get("/v1/sessions/{id}/snapshots") { [self] head, p in
            let s = try session(p, head, .read)
            let list = persistence.snapshots(of: s.id).map { info in
                JSONValue.object(JSONObject(info.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))
            }
            return .json(["snapshots": .array(list)])
        }
    }

    /// `POST /v1/sessions`: a conformance file's `session` object plus an optional `id`; or
    /// `PUT /v1/sessions/{id}` (`pathID`), where a body `id` must agree. The session belongs to
    /// the caller's tenant, within that tenant's quota.
    ///
    /// A PUT is retry-safe: when the id is taken by a session the caller can see whose config
    /// is the one asked for, the answer is 200 with that session (a retry after a lost answer,
    /// whatever has happened to it since); any other config is a 409.
    func create(_ body: JSONValue, by principal: Principal, pathID: String? = nil) throws -> Response {
        guard case .object(var o) = body else {
            throw HTTPError.unprocessable(detail: "expected a JSON object describing the session, got \(body.typeName)")
        }
        var id: String? = pathID
        if let v = o["id"] {
            guard case .string(let s) = v else { throw HTTPError.unprocessable(field: "id", detail: "id: expected a string, got \(v.preview)") }
            if let pathID, s != pathID {
                throw HTTPError.unprocessable(field: "id", detail: "the body's id \"\(s.prefix(80))\" differs from the path's \"\(pathID.prefix(80))\"; leave it out or make them equal")
            }
            id = s
            o["id"] = nil
        }
        let (config, inits) = try SessionConfig.parse(.object(o))
        let tenant = principal.tenant
        let session: Session
        do {
            session = try registry.create(id: id, config: config, tenant: tenant, quota: authenticator.quota(of: tenant)) { id in
                Session(id: id, config: config, inits: inits, tenant: tenant, parallel: parallel)
            }
        } catch let error as HTTPError where error.status == .conflict && pathID != nil {
            guard let existing = try? registry.get(pathID!, for: principal), existing.config.json == config.json else { throw error }
            return .json(describe(existing), headers: [.location: "/v1/sessions/\(existing.id)", .eTag: RequestOptions.etag(existing.step)])
        }
        do {
            try persistence.sessionCreated(session)
        } catch {
            try? registry.remove(session) { persistence.sessionDeleted(session.id, movedAway: $0) }
            throw error
        }
        return .json(describe(session), status: .created,
                     headers: [.location: "/v1/sessions/\(session.id)", .eTag: RequestOptions.etag(0)])
    }
}
