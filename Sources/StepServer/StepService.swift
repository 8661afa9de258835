import Foundation
import StepCore
import StepJSON
import StepKernels

/// The stepd application: sessions, their persistence, metrics and the routes over them. The
/// router it builds is a value, so tests drive the whole API in-process without a socket.
public final class StepService: Sendable {
    public let registry: SessionRegistry
    public let persistence: any SessionPersistence
    public let metrics: Metrics
    public let maxBodyBytes: Int
    /// JSON bodies are parsed whole into a tree of about 20 bytes per number before anything is
    /// read from it, so they get a limit far below the streamed binary encodings'.
    public let maxJSONBodyBytes: Int
    public let token: String?
    public let parallel: Parallel
    let stepSeconds: Histogram
    let stepsTotal: Counter

    public init(registry: SessionRegistry = SessionRegistry(), persistence: any SessionPersistence = InMemoryOnly(),
                metrics: Metrics = Metrics(), maxBodyBytes: Int = 1 << 30, maxJSONBodyBytes: Int = 8 << 20, token: String? = nil,
                parallel: Parallel = .machine) {
        self.registry = registry
        self.persistence = persistence
        self.metrics = metrics
        self.maxBodyBytes = maxBodyBytes
        self.maxJSONBodyBytes = min(maxJSONBodyBytes, maxBodyBytes)
        self.token = token
        self.parallel = parallel
        stepSeconds = metrics.histogram("stepd_step_seconds", help: "Time to apply one step request (norm, clip, update), excluding the body upload.",
                                        buckets: Metrics.stepSecondsBuckets)
        stepsTotal = metrics.counter("stepd_steps_total", help: "Step requests by result.", labels: ["result"])
        metrics.gauge("stepd_sessions", help: "Sessions in memory.") { [registry] in Double(registry.count) }
        metrics.gauge("stepd_parameter_bytes", help: "Bytes of parameters, optimizer state and gradient buffers over all sessions.") { [registry] in
            Double(registry.bytes)
        }
        metrics.gauge("stepd_storage_ok", help: "1 when the last snapshot write succeeded (or none was needed), 0 when storage is failing.") { [persistence] in
            persistence.storageProblem == nil ? 1 : 0
        }
    }

    public func router() -> Router {
        var r = Router(maxBodyBytes: maxBodyBytes, metrics: metrics)
        r.requireBearerToken(token)
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
        return r
    }

    func session(_ p: PathParameters) throws -> Session { try registry.get(p["id"] ?? "") }
}
