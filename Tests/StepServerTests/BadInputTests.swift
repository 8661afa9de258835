@testable import StepHTTP
import StepHTTPTesting
import StepCore
import StepJSON
import StepKernels
import StepServer
import Testing
import HTTPTypes

/// Every refusal is problem+json naming what is wrong, and leaves the session exactly as it was.
@Suite struct BadInputTests {
    static let create: JSONValue = [
        "id": "s",
        "optimizer": ["type": "adamw", "lr": 0.01],
        "schedule": ["type": "warmup_cosine", "warmup_steps": 2, "total_steps": 10],
        "params": [["name": "w", "shape": [2, 3], "values": [1, 2, 3, 4, 5, 6]], ["name": "b", "shape": [2], "values": [0.5, -0.5]]],
    ]

    /// A service with one session that has taken one step, and a way to read its state.
    struct Fixture {
        let service = StepService(parallel: .serial)
        let router: Router

        init(_ create: JSONValue = BadInputTests.create) throws {
            router = service.router()
            let r = send("POST", "/v1/sessions", json: create)
            #expect(r.status.code == 201, "\(String(decoding: (try? r.collectBody()) ?? [], as: UTF8.self))")
            let s = send("POST", "/v1/sessions/s/steps", json: ["grads": ["w": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], "b": [1, -1]]])
            #expect(s.status.code == 200)
        }

        func send(_ method: String, _ target: String, json: JSONValue? = nil, raw: [UInt8]? = nil,
                  headers: [(String, String)] = []) -> Response {
            var h = HTTPFields(headers)
            var body: [UInt8] = []
            if let json { body = json.encoded; if h[.contentType] == nil { h[.contentType] = "application/json" } }
            if let raw { body = raw }
            if !body.isEmpty { h[.contentLength] = String(body.count) }
            return router.handle(HTTPRequestHead(method: HTTPRequest.Method(token: method), target: target, headers: h), body: body, chunkSize: 7)
        }

        /// Step, parameters and optimizer state, for before/after comparisons.
        func fingerprint() throws -> [Float] {
            let image = try service.registry.get("s").capture()
            var out = [Float(image.step)] + image.state.params.array
            for (_, b) in image.state.roles { out += b.array }
            return out
        }
    }

    static func problem(_ r: Response) throws -> JSONValue {
        #expect(r.headers[.contentType] == "application/problem+json")
        return try r.jsonBody()
    }

    /// Sends a bad request and checks the status, that `detail` mentions `mentions`, and that
    /// the session did not change.
    static func refuses(_ status: Int, mentioning mentions: String, _ f: Fixture, _ send: (Fixture) -> Response) throws {
        let before = try f.fingerprint()
        let r = send(f)
        #expect(r.status.code == status)
        let p = try problem(r)
        guard case .string(let detail)? = p["detail"] else {
            Issue.record("no detail in \(p.text)")
            return
        }
        #expect(detail.contains(mentions), "detail \"\(detail)\" should mention \(mentions)")
        #expect(p["status"] == .number(Double(status)))
        #expect(try f.fingerprint() == before, "the session changed after a refused request")
    }

    @Test func truncatedJSONIs400AndChangesNothing() throws {
        let f = try Fixture()
        try Self.refuses(400, mentioning: "JSON", f) {
            $0.send("POST", "/v1/sessions/s/steps", raw: Array("{\"grads\": {\"w\": [1,".utf8), headers: [("Content-Type", "application/json")])
        }
    }

    @Test func wrongContentTypeIs415() throws {
        let f = try Fixture()
        try Self.refuses(415, mentioning: "application/octet-stream", f) {
            $0.send("POST", "/v1/sessions/s/steps", raw: [1, 2, 3], headers: [("Content-Type", "text/csv")])
        }
    }

    @Test func binaryBodyOfTheWrongLengthIs422() throws {
        let f = try Fixture()
        try Self.refuses(422, mentioning: "32 bytes", f) {
            $0.send("POST", "/v1/sessions/s/steps", raw: [Float](repeating: 1, count: 7).littleEndianBytes, headers: [("Content-Type", "application/octet-stream")])
        }
        // Without Content-Length (chunked), a short body is caught at the end...
        let before = try f.fingerprint()
        let short = f.router.handle(HTTPRequestHead(method: .post, target: "/v1/sessions/s/steps", headers: [.contentType: "application/octet-stream", .transferEncoding: "chunked"]),
                                    body: [[Float](repeating: 1, count: 7).littleEndianBytes])
        #expect(short.status.code == 422)
        // ...and a long one at the first byte too many.
        let long = f.router.handle(HTTPRequestHead(method: .post, target: "/v1/sessions/s/steps", headers: [.contentType: "application/octet-stream", .transferEncoding: "chunked"]),
                                   body: [[Float](repeating: 1, count: 5).littleEndianBytes, [Float](repeating: 1, count: 5).littleEndianBytes])
        #expect(long.status.code == 422)
        #expect(try f.fingerprint() == before)
    }

    @Test func unknownMissingAndMisshapenTensorsAre422NamingTheTensor() throws {
        let f = try Fixture()
        try Self.refuses(422, mentioning: "\"x\"", f) {
            $0.send("POST", "/v1/sessions/s/steps", json: ["grads": ["w": [1, 2, 3, 4, 5, 6], "b": [1, 1], "x": [1]]])
        }
        try Self.refuses(422, mentioning: "\"b\"", f) {
            $0.send("POST", "/v1/sessions/s/steps", json: ["grads": ["w": [1, 2, 3, 4, 5, 6]]])
        }
        try Self.refuses(422, mentioning: "[2, 3]", f) {
            $0.send("POST", "/v1/sessions/s/steps", json: ["grads": ["w": [1, 2, 3], "b": [1, 1]]])
        }
    }

    @Test func aRepeatedNameInTheParamsQueryIs422() throws {
        let f = try Fixture()
        try Self.refuses(422, mentioning: "twice", f) { $0.send("GET", "/v1/sessions/s/params?names=w,w") }
        try Self.refuses(422, mentioning: "twice", f) {
            $0.send("GET", "/v1/sessions/s/params?names=b,w,b", headers: [("Accept", "application/vnd.safetensors")])
        }
    }

    @Test func aSafetensorsTensorWithTheRightCountButAnotherShapeIs422() throws {
        let f = try Fixture()
        let w = [Float](repeating: 1, count: 6).littleEndianBytes, b = [Float](repeating: 1, count: 2).littleEndianBytes
        let header = #"{"w": {"dtype": "F32", "shape": [3, 2], "data_offsets": [0, 24]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [24, 32]}}"#
        var json = Array(header.utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        let file = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) } + json + w + b
        try Self.refuses(422, mentioning: "[2, 3]", f) {
            $0.send("POST", "/v1/sessions/s/steps", raw: file, headers: [("Content-Type", "application/vnd.safetensors")])
        }
    }

    @Test func aJSONBodyOverItsOwnLimitIs413PointingToTheBinaryEncodings() throws {
        let service = StepService(maxBodyBytes: 1 << 20, maxJSONBodyBytes: 64, parallel: .serial)
        let router = service.router()
        var h = HTTPFields()
        h[.contentType] = "application/json"
        let create: JSONValue = ["id": "s", "optimizer": ["type": "sgd"], "params": [["name": "w", "shape": [40]]]]
        let refused = router.handle(HTTPRequestHead(method: .post, target: "/v1/sessions", headers: h), body: create.encoded)
        #expect(refused.status.code == 413)
        let detail = try refused.jsonBody()["detail"]
        #expect(detail.map { "\($0)" }?.contains("application/octet-stream") == true, "\(String(describing: detail))")
        #expect(service.registry.count == 0)
    }

    @Test func aStringWhereANumberBelongsIs422NamingTheElement() throws {
        let f = try Fixture()
        try Self.refuses(422, mentioning: "grads.w[2]", f) {
            $0.send("POST", "/v1/sessions/s/steps", json: ["grads": ["w": [1, 2, "three", 4, 5, 6], "b": [1, 1]]])
        }
    }

    @Test func unknownFieldInAStepBodyIs422() throws {
        let f = try Fixture()
        try Self.refuses(422, mentioning: "gradz", f) {
            $0.send("POST", "/v1/sessions/s/steps", json: ["grads": ["w": [1, 2, 3, 4, 5, 6], "b": [1, 1]], "gradz": 1])
        }
    }

    @Test func staleIfMatchIs412() throws {
        let f = try Fixture()
        try Self.refuses(412, mentioning: "step 0", f) {
            $0.send("POST", "/v1/sessions/s/steps", json: ["grads": ["w": [1, 2, 3, 4, 5, 6], "b": [1, 1]]], headers: [("If-Match", "\"0\"")])
        }
    }

    @Test func currentIfMatchIsAccepted() throws {
        let f = try Fixture()
        let r = f.send("POST", "/v1/sessions/s/steps", json: ["grads": ["w": [1, 2, 3, 4, 5, 6], "b": [1, 1]]], headers: [("If-Match", "\"1\"")])
        #expect(r.status.code == 200)
        #expect(r.headers[.eTag] == "\"2\"")
    }

    @Test func retryWithTheSameIdempotencyKeyAppliesNothing() throws {
        let f = try Fixture()
        let body: JSONValue = ["grads": ["w": [1, 2, 3, 4, 5, 6], "b": [1, 1]]]
        let first = f.send("POST", "/v1/sessions/s/steps", json: body, headers: [("Idempotency-Key", "k1")])
        #expect(first.status.code == 200)
        let after = try f.fingerprint()
        let retry = f.send("POST", "/v1/sessions/s/steps", json: body, headers: [("Idempotency-Key", "k1")])
        #expect(retry.status.code == 200)
        #expect(try retry.jsonBody()["step"] == (try first.jsonBody())["step"])
        #expect(try retry.jsonBody()["replayed"] == true)
        #expect(try f.fingerprint() == after)
    }

    @Test func nonFiniteGradientsUnderTheErrorPolicyAre422() throws {
        guard case .object(var o) = Self.create else { return }
        o["nonfinite"] = "error"
        let f = try Fixture(.object(o))
        try Self.refuses(422, mentioning: "NaN", f) {
            $0.send("POST", "/v1/sessions/s/steps", json: ["grads": ["w": [1, 2, "nan", 4, 5, 6], "b": [1, 1]]])
        }
    }

    @Test func nonFiniteGradientsAreSkippedByDefault() throws {
        let f = try Fixture()
        let before = try f.fingerprint()
        let r = f.send("POST", "/v1/sessions/s/steps", json: ["grads": ["w": [1, 2, "inf", 4, 5, 6], "b": [1, 1]]])
        #expect(r.status.code == 200)
        #expect(try r.jsonBody()["skipped"] == true)
        #expect(try f.fingerprint() == before)
    }

    static let invalidConfigs: [(String, JSONValue, String)] = [
        ("optimizer", ["type": "adamw", "lr": -1] as JSONValue, "optimizer.lr"),
        ("optimizer", ["type": "adamw", "betas": [0.9, 1.0]] as JSONValue, "optimizer.betas[1]"),
        ("optimizer", ["type": "adamw", "eps": 0] as JSONValue, "optimizer.eps"),
        ("optimizer", ["type": "adamz"] as JSONValue, "adamz"),
        ("optimizer", ["type": "adamw", "weight_decy": 0.1] as JSONValue, "weight_decy"),
        ("schedule", ["type": "cosine_warmup"] as JSONValue, "cosine_warmup"),
        ("params", [["name": "w", "shape": [1], "values": [1]], ["name": "w", "shape": [1], "values": [1]]] as JSONValue, "duplicate"),
        ("params", [["name": "w", "shape": [2], "values": [1]]] as JSONValue, "params[0].values"),
        ("id", JSONValue.string("../etc"), "safe name"),
        ("id", JSONValue.string(".hidden"), "safe name"),
        ]

    @Test(arguments: invalidConfigs)
    func invalidConfigsAre422NamingTheField(_ key: String, _ value: JSONValue, _ mention: String) throws {
        let f = try Fixture()
        guard case .object(var o) = Self.create else { return }
        o["id"] = "t"
        o[key] = value
        let r = f.send("POST", "/v1/sessions", json: .object(o))
        #expect(r.status.code == 422)
        let detail = try Self.problem(r)["detail"]
        #expect(detail.map { if case .string(let s) = $0 { s.contains(mention) } else { false } } == true, "\(detail?.text ?? "")")
        #expect(f.service.registry.count == 1)
    }

    @Test func duplicateSessionIdIs409() throws {
        let f = try Fixture()
        let r = f.send("POST", "/v1/sessions", json: Self.create)
        #expect(r.status.code == 409)
        #expect(try f.fingerprint()[0] == 1)
    }

    @Test func unknownSessionIs404AndWrongMethodIs405WithAllow() throws {
        let f = try Fixture()
        #expect(f.send("GET", "/v1/sessions/nope").status.code == 404)
        let r = f.send("PUT", "/v1/sessions/s/steps")
        #expect(r.status.code == 405)
        #expect(r.headers[.allow] == "POST")
    }

    @Test func tooManySessionsAndTooManyParameterBytesAre507() throws {
        let tight = StepService(registry: SessionRegistry(limits: .init(maxSessions: 1, maxParamBytes: 1000)), parallel: .serial)
        let router = tight.router()
        func create(_ id: String, _ n: Int) -> Response {
            let body: JSONValue = ["id": .string(id), "optimizer": ["type": "sgd", "lr": 0.1], "params": [["name": "w", "shape": [.number(Double(n))]]]]
            return router.handle(HTTPRequestHead(method: .post, target: "/v1/sessions", headers: [.contentType: "application/json"]), body: body.encoded)
        }
        #expect(create("big", 1000).status.code == 507)
        #expect(create("a", 10).status.code == 201)
        #expect(create("b", 10).status.code == 507)
        #expect(tight.registry.count == 1)
    }

    @Test func bodyOverTheLimitIs413BeforeItIsRead() throws {
        let small = StepService(maxBodyBytes: 64, parallel: .serial)
        let r = small.router().handle(HTTPRequestHead(method: .post, target: "/v1/sessions", headers: [.contentType: "application/json", .contentLength: "100000"]),
                                      body: [UInt8](repeating: 32, count: 100_000))
        #expect(r.status.code == 413)
    }

    @Test func bearerTokenGuardsV1ButNotHealthz() throws {
        let service = StepService(authenticator: Authenticator(token: "sekrit"), parallel: .serial)
        let router = service.router()
        #expect(router.handle(HTTPRequestHead(method: .get, target: "/v1/sessions")).status.code == 401)
        #expect(router.handle(HTTPRequestHead(method: .get, target: "/v1/sessions", headers: [.authorization: "Bearer wrong"])).status.code == 401)
        #expect(router.handle(HTTPRequestHead(method: .get, target: "/v1/sessions", headers: [.authorization: "Bearer sekrit"])).status.code == 200)
        #expect(router.handle(HTTPRequestHead(method: .get, target: "/healthz")).status.code == 200)
    }

    @Test func patchChangesTheLearningRateAndRefusesTypeChanges() throws {
        let f = try Fixture()
        let ok = f.send("PATCH", "/v1/sessions/s", json: ["optimizer": ["lr": 0.5]])
        #expect(ok.status.code == 200)
        #expect(try f.service.registry.get("s").config.optimizer.hyper.lr == 0.5)
        try Self.refuses(422, mentioning: "optimizer.type", f) { $0.send("PATCH", "/v1/sessions/s", json: ["optimizer": ["type": "sgd"]]) }
        try Self.refuses(422, mentioning: "params", f) { $0.send("PATCH", "/v1/sessions/s", json: ["params": []]) }
        try Self.refuses(422, mentioning: "optimizer.lr", f) { $0.send("PATCH", "/v1/sessions/s", json: ["optimizer": ["lr": -2]]) }
    }
}

extension BadInputTests {
    @Test func aSessionWhoseTensorsTogetherAreTooLargeIs422NotACrash() throws {
        let f = try Fixture()
        let huge: [JSONValue] = (0..<2000).map { ["name": .string("t\($0)"), "shape": [999_999_999_999]] }
        try Self.refuses(422, mentioning: "more elements than stepd can hold", f) {
            $0.send("POST", "/v1/sessions", json: ["id": "h", "optimizer": ["type": "sgd"], "params": .array(huge)])
        }
    }
}
