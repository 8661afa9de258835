import StepHTTP
import StepDashboard
import Foundation
import StepCore
import StepJSON
import StepKernels

/// The stepd application: sessions, their persistence, metrics and the routes over them. The
/// router it builds is a value, so tests drive the whole API in-process without a socket.
///
/// Every `/v1` route acts for the request's `Principal` (`caller`) and reaches sessions only
/// through `session(_:_:_:)`, which answers 404 for sessions the caller cannot see and 403
/// for a write by a reader.
public final class StepService: Sendable {
    public let registry: SessionRegistry
    public let persistence: any SessionPersistence
    public let metrics: Metrics
    public let maxBodyBytes: Int
    /// JSON bodies are parsed whole into a tree of about 20 bytes per number before anything is
    /// read from it, so they get a limit far below the streamed binary encodings'.
    public let maxJSONBodyBytes: Int
    public let authenticator: Authenticator
    public let parallel: Parallel
    let stepSeconds: DurationFamily
    /// By the session's tenant ("" for none) and result.
    let stepsTotal: CounterFamily
    let keysReloads: CounterFamily

    public init(registry: SessionRegistry = SessionRegistry(), persistence: any SessionPersistence = InMemoryOnly(),
                metrics: Metrics = Metrics(), maxBodyBytes: Int = 1 << 30, maxJSONBodyBytes: Int = 8 << 20,
                authenticator: Authenticator = Authenticator(),
                parallel: Parallel = .machine) {
        self.registry = registry
        self.persistence = persistence
        self.metrics = metrics
        self.maxBodyBytes = maxBodyBytes
        self.maxJSONBodyBytes = min(maxJSONBodyBytes, maxBodyBytes)
        self.authenticator = authenticator
        self.parallel = parallel
        stepSeconds = metrics.histogram("stepd_step_seconds", help: "Time to apply one step request (norm, clip, update), excluding the body upload.",
                                        buckets: Metrics.stepSecondsBuckets)
        stepsTotal = metrics.counter("stepd_steps_total", help: "Step requests by the session's tenant and result.", labels: ["tenant", "result"])
        keysReloads = metrics.counter("stepd_keys_reloads_total", help: "Reloads of --keys-file (SIGHUP) by result: applied, or refused with the old keys kept.",
                                      labels: ["result"])
        // Per tenant: bounded by the keys file's tenants plus the owners of sessions held.
        // Tenant "" (sessions without one) is always present, so sums never come up empty.
        let usage: @Sendable () -> [(String, (sessions: Int, bytes: Int))] = { [registry, authenticator] in
            var byTenant: [String: (sessions: Int, bytes: Int)] = ["": (0, 0)]
            for t in authenticator.tenants { byTenant[t] = (0, 0) }
            for (t, u) in registry.usageByTenant { byTenant[t ?? ""] = u }
            return byTenant.sorted { $0.key < $1.key }
        }
        metrics.gauges("stepd_sessions", help: "Sessions in memory by owning tenant (\"\": no tenant).", labels: ["tenant"]) {
            usage().map { ([$0.0], Double($0.1.sessions)) }
        }
        metrics.gauges("stepd_parameter_bytes", help: "Bytes of parameters, optimizer state and gradient buffers by owning tenant (\"\": no tenant).",
                       labels: ["tenant"]) {
            usage().map { ([$0.0], Double($0.1.bytes)) }
        }
        metrics.gauge("stepd_storage_ok", help: "1 when the last snapshot write succeeded (or none was needed), 0 when storage is failing.") { [persistence] in
            persistence.storageProblem == nil ? 1 : 0
        }
    }

    public func router() -> Router {
        var r = Router(maxBodyBytes: maxBodyBytes, metrics: metrics)
        r.authenticator = authenticator
        r.get("/healthz") { [self] _, _ in
            // Open to anyone, so it says only what a load balancer needs: no session ids, counts
            // or paths. What failed is in the log and in /metrics' stepd_storage_ok.
            var w = JSONWriter(reservingCapacity: 48)
            w.raw(persistence.storageProblem == nil ? "{\"status\":\"ok\"}" : "{\"status\":\"degraded\",\"storage\":\"failing\"}")
            return .respond(.json(w))
        }
        r.get("/metrics") { [self] _, _ in .respond(.text(metrics.render(), contentType: Metrics.contentType)) }
        addSessionRoutes(&r)
        addStepRoutes(&r)
        addParamsRoutes(&r)
        addCheckpointRoutes(&r)
        Dashboard.addRoutes(to: &r)
        return r
    }

    /// Re-reads `--keys-file` (SIGHUP). On error the keys in force stay, and the error is
    /// rethrown for the log; `stepd_keys_reloads_total` counts both outcomes.
    @discardableResult
    public func reloadKeys() throws(KeysFileError) -> Int {
        do {
            let n = try authenticator.reload()
            keysReloads.increment(["applied"])
            return n
        } catch {
            keysReloads.increment(["refused"])
            throw error
        }
    }

    /// What a route means to do with a session.
    enum Access {
        case read
        /// Changes it, or makes a snapshot of it: trainers and admins only.
        case write
    }

    /// Who sent the request; every /v1 request has one (the authenticator sets it first).
    func caller(_ head: HTTPRequestHead) throws -> Principal {
        guard let principal = head.principal else { throw HTTPError.unauthorized("this path requires an Authorization: Bearer token") }
        return principal
    }

    /// Refuses readers before a route creates anything (no session is involved, so 403 tells
    /// nothing about which ids exist).
    func requireWrite(_ principal: Principal, _ what: String) throws {
        guard principal.role.canWrite else { throw HTTPError.forbidden("\(principal) may only read sessions, not \(what)") }
    }

    /// The session of the path's `{id}` as the caller may use it: 404 when it does not exist
    /// or belongs to another tenant (the same answer, so ids do not leak), then 403 when a
    /// reader asks to write.
    func session(_ p: PathParameters, _ head: HTTPRequestHead, _ access: Access) throws -> Session {
        let principal = try caller(head)
        let s = try registry.get(p["id"] ?? "", for: principal)
        if access == .write, !principal.role.canWrite {
            throw HTTPError.forbidden("\(principal) may only read session \"\(s.id)\", not change it")
        }
        return s
    }

    /// The session's summary plus its tenant, for every response that describes a session.
    func describe(_ s: Session) -> JSONValue {
        let summary = s.summary()
        guard let tenant = s.tenant, case .object(var o) = summary else { return summary }
        o["tenant"] = .string(tenant)
        return .object(o)
    }
}
