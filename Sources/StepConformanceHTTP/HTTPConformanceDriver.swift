import StepHTTP
import StepHTTPTesting
import StepConformance
import StepHTTPClient
import StepJSON
import StepTensors

/// Replays conformance cases through the HTTP API, as a training client would: create with
/// `POST /v1/sessions`, `POST .../steps` with gradients, `GET .../params` (and `?view=`) after
/// each step, `DELETE` at the end. Tensor bodies are JSON, or raw little-endian float32
/// (`application/octet-stream`) in the session's declared order, both ways.
public struct HTTPConformanceDriver: ConformanceDriver {
    public enum Encoding: String, CaseIterable, Sendable {
        case json, binary
    }

    public let transport: any ConformanceTransport
    public let encoding: Encoding
    var id = ""
    var order: [(name: String, count: Int)] = []

    public init(transport: any ConformanceTransport, encoding: Encoding) {
        self.transport = transport
        self.encoding = encoding
    }

    public var layer: String { "\(transport.name)/\(encoding.rawValue)" }

    public mutating func create(session c: ConformanceCase) throws {
        guard case .object(var o) = c.session else { throw ConformanceError("session is not an object") }
        id = "\(c.name)-\(transport.name)-\(encoding.rawValue)-\(UInt32.random(in: 0 ... .max))"
        o["id"] = .string(id)
        let r = try transport.request("POST", "/v1/sessions", headers: [("Content-Type", "application/json")], body: JSONValue.object(o).encoded)
        guard r.status == 201 else { throw ConformanceError("create: \(r.status) \(r.text)") }
        guard r[header: "Location"] == "/v1/sessions/\(id)" else {
            throw ConformanceError("create: Location is \(r[header: "Location"] ?? "missing")")
        }
        guard case .array(let params)? = c.session["params"] else { throw ConformanceError("no params") }
        order = try params.enumerated().map { i, p in
            guard case .string(let n)? = p["name"], case .array(let shape)? = p["shape"] else {
                throw ConformanceError("params[\(i)] has no name or shape")
            }
            let count = try shape.reduce(1) { product, d in
                guard case .number(let x) = d else { throw ConformanceError("params[\(i)].shape is not numbers") }
                return product * Int(x)
            }
            return (n, count)
        }
    }

    public mutating func step(grads: [String: [Double]]) throws -> ConformanceStepReport {
        let r: HTTPClientResponse
        switch encoding {
        case .json:
            let body: JSONValue = ["grads": .object(JSONObject(grads.sorted { $0.key < $1.key }.map { ($0.key, .array($0.value.map { .number($0) })) }))]
            r = try transport.request("POST", "/v1/sessions/\(id)/steps", headers: [("Content-Type", "application/json")], body: body.encoded)
        case .binary:
            var floats: [Float] = []
            for t in order {
                guard let g = grads[t.name], g.count == t.count else {
                    throw ConformanceError("step: gradient \(t.name) missing or not \(t.count) values")
                }
                floats += g.map { Float($0) }
            }
            r = try transport.request("POST", "/v1/sessions/\(id)/steps", headers: [("Content-Type", "application/octet-stream")],
                                      body: Self.littleEndianBytes(floats))
        }
        guard r.status == 200 else { throw ConformanceError("step: \(r.status) \(r.text)") }
        let o = try JSONParser.parse(r.body)
        guard case .number(let step)? = o["step"], case .number(let lr)? = o["lr"], case .bool(let skipped)? = o["skipped"] else {
            throw ConformanceError("step answer lacks step/lr/skipped: \(r.text)")
        }
        guard r[header: "ETag"] == "\"\(Int(step))\"" else { throw ConformanceError("step ETag is \(r[header: "ETag"] ?? "missing")") }
        var norm: Double? = nil
        if case .number(let g)? = o["grad_norm"] { norm = g }
        return ConformanceStepReport(step: Int(step), lr: lr, gradNorm: norm, skipped: skipped)
    }

    public mutating func params() throws -> [String: [Float]] { try params(query: "") }

    public mutating func params(view: String) throws -> [String: [Float]] { try params(query: "?view=\(view)") }

    func params(query: String) throws -> [String: [Float]] {
        let target = "/v1/sessions/\(id)/params\(query)"
        switch encoding {
        case .json:
            let r = try transport.request("GET", target, headers: [("Accept", "application/json")], body: nil)
            guard r.status == 200 else { throw ConformanceError("GET \(target): \(r.status) \(r.text)") }
            guard case .object(let p)? = try JSONParser.parse(r.body)["params"] else { throw ConformanceError("GET \(target): no params object") }
            var out: [String: [Float]] = [:]
            for (k, v) in p.pairs {
                guard case .array(let a) = v else { throw ConformanceError("GET \(target): \(k) is not an array") }
                out[k] = try a.enumerated().map { i, x in Float(try JSONObjectReader.number(x, field: "\(k)[\(i)]")) }
            }
            return out
        case .binary:
            let r = try transport.request("GET", target, headers: [("Accept", "application/octet-stream")], body: nil)
            guard r.status == 200 else { throw ConformanceError("GET \(target): \(r.status) \(r.text)") }
            guard r[header: "Content-Type"] == "application/octet-stream" else {
                throw ConformanceError("GET \(target): Content-Type is \(r[header: "Content-Type"] ?? "missing")")
            }
            let all = Self.floats(r.body)
            let total = order.reduce(0) { $0 + $1.count }
            guard all.count == total, r.body.count == total * 4 else {
                throw ConformanceError("GET \(target): \(r.body.count) bytes, expected \(total * 4)")
            }
            var out: [String: [Float]] = [:]
            var at = 0
            for t in order {
                out[t.name] = Array(all[at..<(at + t.count)])
                at += t.count
            }
            return out
        }
    }

    /// From the checkpoint (`GET .../checkpoint`, safetensors): q8 state is there as
    /// bitsandbytes names it, `state.<tensor>.state<k>` and `absmax<k>`, the k-th of the states
    /// `__metadata__.state_names` lists.
    public mutating func quantizedState() throws -> [String: [String: QuantizedState]?] {
        let target = "/v1/sessions/\(id)/checkpoint"
        let r = try transport.request("GET", target, headers: [], body: nil)
        guard r.status == 200 else { throw ConformanceError("GET \(target): \(r.status) \(r.text)") }
        let file = try SafetensorsFile(bytes: r.body, name: target)
        // State names per optimizer type; a tensor's type is its group's (or the session's).
        var names: [String: [String]] = [:]
        if let text = file.metadata["state_names"], case .object(let byType) = try JSONParser.parse(text) {
            for (type, list) in byType.pairs {
                if case .array(let items) = list { names[type] = items.compactMap { if case .string(let s) = $0 { s } else { nil } } }
            }
        }
        func string(_ v: JSONValue?) -> String? { if case .string(let s)? = v { s } else { nil } }
        var typeOf: [String: String] = [:]
        if let text = file.metadata["config"] {
            let config = try JSONParser.parse(text)
            let session = string(config["optimizer"]?["type"]) ?? ""
            var groupType: [String: String] = [:]
            if case .array(let groups)? = config["groups"] {
                for g in groups {
                    if let name = string(g["name"]) { groupType[name] = string(g["type"]) ?? session }
                }
            }
            if case .array(let params)? = config["params"] {
                for p in params {
                    guard let name = string(p["name"]) else { continue }
                    typeOf[name] = string(p["group"]).flatMap { groupType[$0] } ?? session
                }
            }
        }
        var out: [String: [String: QuantizedState]?] = [:]
        for t in order {
            var found: [String: QuantizedState] = [:]
            for (k, role) in (names[typeOf[t.name] ?? ""] ?? []).enumerated() {
                guard let codes = file.tensor(named: "state.\(t.name).state\(k + 1)"),
                      let absmax = file.tensor(named: "state.\(t.name).absmax\(k + 1)") else { continue }
                var codeBytes = [UInt8](repeating: 0, count: codes.byteCount)
                try codeBytes.withUnsafeMutableBytes { try file.copyBytes(of: codes, into: $0) }
                found[role] = QuantizedState(codes: codeBytes, absmax: try file.floats(absmax.name))
            }
            out[t.name] = found.isEmpty ? .some(nil) : found
        }
        return out
    }

    public mutating func finish() throws {
        guard !id.isEmpty else { return }
        let r = try transport.request("DELETE", "/v1/sessions/\(id)", headers: [], body: nil)
        guard r.status == 204 else { throw ConformanceError("delete: \(r.status) \(r.text)") }
    }

    static func littleEndianBytes(_ floats: [Float]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(floats.count * 4)
        for f in floats { withUnsafeBytes(of: f.bitPattern.littleEndian) { out += $0 } }
        return out
    }

    static func floats(_ bytes: [UInt8]) -> [Float] {
        bytes.withUnsafeBytes { raw in
            (0..<(bytes.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }
}
