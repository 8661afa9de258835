import StepHTTP
import StepCore
import StepJSON
import StepStore
import StepTensors

/// Whole-session checkpoints as safetensors (`SessionCheckpoint`): download, restore in place,
/// and create a new session from one, on this server or another.
extension StepService {
    func addCheckpointRoutes(_ r: inout Router) {
        r.get("/v1/sessions/{id}/checkpoint") { [self] head, p in
            let s = try session(p, head, .read)
            let image = s.capture()
            let producer = try SessionCheckpoint.writer(image).makeProducer()
            let stream = ResponseBodyStream(length: producer.size, fill: { offset, buffer in
                producer.read(at: offset, into: buffer)
            }, release: { withExtendedLifetime(image) {} })
            return .respond(.stream(stream, contentType: TensorMediaType.safetensors,
                                    headers: [.eTag: RequestOptions.etag(image.step),
                                              .contentDisposition: "attachment; filename=\"\(s.id)-step\(image.step).safetensors\""]))
        }
        r.put("/v1/sessions/{id}/checkpoint") { [self] head, p in
            let id = try p.require("id")
            let principal = try caller(head)
            try requireWrite(principal, "load checkpoints")
            guard head.mediaType == TensorMediaType.safetensors else {
                throw HTTPError.unsupportedMediaType(head.headers[.contentType], supported: [TensorMediaType.safetensors])
            }
            return .collectBody(limit: maxBodyBytes, budget: registry.budget) { bytes in try self.restore(checkpoint: bytes, id: id, replace: true, by: principal) }
        }
    }

    /// Loads a checkpoint body into a session under `id`. The config is read first and the
    /// registry's limits checked against it; only then are the tensors loaded, inside `make`.
    ///
    /// The session belongs to the caller's tenant whatever the file says, so a file cannot
    /// plant a session in another tenant's namespace. Only an admin's upload keeps the file's
    /// `tenant` (an operator moving sessions between servers); a file without one is then the
    /// admin's own. A session the caller cannot see is never replaced: its id is taken (409).
    func restore(checkpoint bytes: [UInt8], id: String?, replace: Bool, by principal: Principal) throws -> Response {
        let file: SafetensorsFile
        do {
            file = try SafetensorsFile(bytes: bytes)
            if file.storedChecksum != nil { _ = try file.verifyChecksum() }
        } catch {
            throw HTTPError.unprocessable(field: "body", detail: "not a valid stepd checkpoint: \(error)")
        }
        let config = try SessionCheckpoint.config(of: file)
        let targetID = id ?? file.metadata["session_id"]
        var tenant = principal.tenant
        if principal.role == .admin, let own = file.metadata["tenant"] {
            guard TenantName.isValid(own) else {
                throw HTTPError.unprocessable(field: "__metadata__.tenant", detail: "expected a tenant name (\(TenantName.expectation)), got \"\(own.prefix(80))\"")
            }
            tenant = own
        }
        let build: (String) throws -> Session = { [parallel, tenant, config] id in
            var image = try SessionCheckpoint.image(from: file, id: id, config: config)
            image.tenant = tenant
            return try Session(restoring: image, parallel: parallel)
        }
        let quota = authenticator.quota(of: tenant)
        let session: Session
        var created = true
        if replace, let targetID {
            (session, created) = try registry.put(id: targetID, config: config, tenant: tenant, quota: quota, as: principal, make: build)
        } else {
            session = try registry.create(id: targetID, config: config, tenant: tenant, quota: quota, make: build)
        }
        do {
            try persistence.sessionCreated(session)
        } catch {
            if created { try? registry.remove(session) { persistence.sessionDeleted(session.id, movedAway: $0) } }
            throw error
        }
        return .json(describe(session), status: created ? .created : .ok,
                     headers: [.location: "/v1/sessions/\(session.id)", .eTag: RequestOptions.etag(session.step)])
    }
}
