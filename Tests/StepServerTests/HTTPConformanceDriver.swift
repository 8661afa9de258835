import StepConformance
import StepJSON

/// Replays conformance cases over a real socket, in JSON or in raw binary bodies.
struct HTTPConformanceDriver: ConformanceDriver {
    enum Encoding { case json, binary }
    let server: LiveServer
    let encoding: Encoding
    var id = ""
    var order: [(name: String, count: Int)] = []

    init(server: LiveServer, encoding: Encoding) {
        self.server = server
        self.encoding = encoding
    }

    mutating func create(session c: ConformanceCase) throws {
        guard case .object(var o) = c.session else { throw ConformanceError("session is not an object") }
        id = "\(c.name)-\(encoding)-\(UInt32.random(in: 0 ... .max))"
        o["id"] = .string(id)
        let r = try server.json("POST", "/v1/sessions", .object(o))
        guard r.status == 201 else { throw ConformanceError("create: \(r.status) \(r.text)") }
        guard r.headers["Location"] == "/v1/sessions/\(id)" else { throw ConformanceError("create: Location is \(r.headers["Location"] ?? "missing")") }
        guard case .array(let params)? = c.session["params"] else { throw ConformanceError("no params") }
        order = params.map { p in
            guard case .string(let n)? = p["name"], case .array(let shape)? = p["shape"] else { return ("", 0) }
            return (n, shape.reduce(1) { if case .number(let d) = $1 { return $0 * Int(d) } else { return $0 } })
        }
    }

    mutating func step(grads: [String: [Double]]) throws -> ConformanceStepReport {
        let r: TestHTTPClient.Response
        switch encoding {
        case .json:
            let body: JSONValue = ["grads": .object(JSONObject(grads.sorted { $0.key < $1.key }.map { ($0.key, .array($0.value.map { .number($0) })) }))]
            r = try server.json("POST", "/v1/sessions/\(id)/steps", body)
        case .binary:
            var floats: [Float] = []
            for t in order { floats += (grads[t.name] ?? []).map { Float($0) } }
            r = try server.client.request("POST", "/v1/sessions/\(id)/steps", headers: [("Content-Type", "application/octet-stream")],
                                          body: floats.littleEndianBytes)
        }
        guard r.status == 200 else { throw ConformanceError("step: \(r.status) \(r.text)") }
        let o = try r.json()
        guard case .number(let step)? = o["step"], case .number(let lr)? = o["lr"], case .bool(let skipped)? = o["skipped"] else {
            throw ConformanceError("step answer lacks step/lr/skipped: \(r.text)")
        }
        guard r.headers["ETag"] == "\"\(Int(step))\"" else { throw ConformanceError("step ETag is \(r.headers["ETag"] ?? "missing")") }
        var norm: Double? = nil
        if case .number(let g)? = o["grad_norm"] { norm = g }
        return ConformanceStepReport(step: Int(step), lr: lr, gradNorm: norm, skipped: skipped)
    }

    mutating func params() throws -> [String: [Float]] { try params(query: "") }

    mutating func params(view: String) throws -> [String: [Float]] { try params(query: "?view=\(view)") }

    mutating func params(query: String) throws -> [String: [Float]] {
        switch encoding {
        case .json:
            let r = try server.client.request("GET", "/v1/sessions/\(id)/params\(query)", headers: [("Accept", "application/json")])
            guard r.status == 200, case .object(let p)? = try r.json()["params"] else { throw ConformanceError("params: \(r.status)") }
            var out: [String: [Float]] = [:]
            for (k, v) in p.pairs {
                guard case .array(let a) = v else { continue }
                out[k] = try a.enumerated().map { i, x in Float(try JSONObjectReader.number(x, field: "\(k)[\(i)]")) }
            }
            return out
        case .binary:
            let r = try server.client.request("GET", "/v1/sessions/\(id)/params\(query)", headers: [("Accept", "application/octet-stream")])
            guard r.status == 200, r.headers["Content-Type"] == "application/octet-stream" else { throw ConformanceError("params: \(r.status)") }
            let all = r.body.floats
            var out: [String: [Float]] = [:]
            var at = 0
            for t in order {
                out[t.name] = Array(all[at..<(at + t.count)])
                at += t.count
            }
            guard at == all.count else { throw ConformanceError("params: \(all.count) floats, expected \(at)") }
            return out
        }
    }

    mutating func finish() throws {
        let r = try server.client.request("DELETE", "/v1/sessions/\(id)")
        guard r.status == 204 else { throw ConformanceError("delete: \(r.status)") }
    }
}
