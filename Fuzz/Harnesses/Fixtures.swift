import StepHTTP
import StepHTTPTesting
import StepCore
import StepJSON
import StepServer
import HTTPTypes

/// Services and requests the harnesses share.
enum Fixtures {
    /// The session the step harnesses post to: two tensors in two groups, 8 values in all
    /// (32 bytes of f32, 16 of bf16/f16), AdamW with a schedule and clipping, and a short history
    /// so that millions of steps keep memory flat.
    static let sessionBody: JSONValue = [
        "id": "s",
        "optimizer": ["type": "adamw", "lr": 0.01, "weight_decay": 0.01],
        "schedule": ["type": "warmup_cosine", "warmup_steps": 2, "total_steps": 100, "min_lr_ratio": 0.1],
        "clip": ["max_norm": 1.0],
        "groups": [["name": "no_decay", "weight_decay": 0]],
        "params": [["name": "w", "shape": [2, 3], "values": [0.5, -0.5, 0.25, 1, 2, -3]],
                   ["name": "b", "shape": [2], "init": "zeros", "group": "no_decay"]],
        "history": ["capacity": 64],
    ]

    /// The bearer token of the router harness's services.
    static let token = "fuzz-token"

    /// A service with small limits, so that fuzzed creates stay small: a few sessions of at most
    /// 16 MiB in all, bodies of at most 1 MiB. Serial, so a step runs on the fuzzing thread.
    static func service(token: String? = nil) -> StepService {
        StepService(registry: SessionRegistry(limits: .init(maxSessions: 8, maxParamBytes: 16 << 20)),
                    maxBodyBytes: 1 << 20, authenticator: Authenticator(token: token), parallel: .serial)
    }

    /// A service holding session "s" (Fixtures.sessionBody) after one step; traps if that fails,
    /// since then every input would test nothing.
    static func serviceWithSession(token: String? = nil) -> (StepService, Router) {
        let service = service(token: token)
        let router = service.router()
        var auth = HTTPFields()
        if let token { auth[.authorization] = "Bearer \(token)" }
        let created = send(router, .post, "/v1/sessions", json: sessionBody, headers: auth)
        precondition(created.status.code == 201, "fixture: creating the session answered \(created.status)")
        let stepped = send(router, .post, "/v1/sessions/s/steps",
                           json: ["grads": ["w": [0.1, 0.2, 0.3, -0.1, -0.2, -0.3], "b": [1, -1]]], headers: auth)
        precondition(stepped.status.code == 200, "fixture: the first step answered \(stepped.status)")
        return (service, router)
    }

    static func send(_ router: Router, _ method: HTTPRequest.Method, _ target: String, json: JSONValue,
                     headers: HTTPFields = [:]) -> Response {
        var h = headers
        let body = json.encoded
        h[.contentType] = "application/json"
        h[.contentLength] = String(body.count)
        return router.handle(HTTPRequestHead(method: method, target: target, headers: h), body: body)
    }

    /// The harnesses' oracle for responses: a 500 means an error escaped that the API does not
    /// map to a problem (400/404/409/413/415/422/...), which for client input is a bug. The body
    /// is read to the end, so streamed downloads run too.
    static func check(_ response: Response, _ what: @autoclosure () -> String) {
        precondition(response.status.code != 500, "500 Internal Server Error for \(what())")
        _ = try? response.collectBody()
    }
}

/// The step harnesses' service and session, made once per process on first use. A global `let`
/// is initialised lazily and thread-safely, and StepService and Router are Sendable, so sharing
/// them needs no `nonisolated(unsafe)`. The session's state (step, parameters, history, the
/// idempotency cache) carries over from input to input, as on a real server.
let stepFixture = Fixtures.serviceWithSession()
