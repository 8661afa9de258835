@testable import StepHTTP
import StepHTTPTesting
import StepCore
import StepJSON
import StepKernels
import StepServer
import StepStore
import Testing
import StepTensors
import HTTPTypes

/// `GET .../params?dtype=bf16|f16` sends half the bytes, rounded to nearest even as torch's
/// `.to(torch.bfloat16)` / `.half()` do, in raw, safetensors and JSON; an unknown dtype is a 422.
@Suite struct HalfPrecisionDownloadTests {
    /// Values that exercise rounding: ties to even, overflow and underflow for f16, NaN-free.
    static let values: [Float] = [1, -2.5, 1.00390625, 1.01171875, 65520, 1e-8, 3.14159265, -1e-3, 6e-5, 70000, 0.1, 1e30]

    /// The in-process router with one session holding `values` (w, then b).
    struct Fixture {
        let router = StepService(parallel: .serial).router()

        func send(_ method: String, _ target: String, json: JSONValue? = nil, headers: [(String, String)] = []) -> Response {
            var h = HTTPFields(headers)
            let body = json?.encoded ?? []
            if json != nil { h[.contentType] = "application/json" }
            if !body.isEmpty { h[.contentLength] = String(body.count) }
            return router.handle(HTTPRequestHead(method: HTTPRequest.Method(token: method), target: target, headers: h), body: body, chunkSize: 7)
        }
    }

    static func fixture() throws -> Fixture {
        let f = Fixture()
        let create: JSONValue = [
            "id": "s", "optimizer": ["type": "sgd", "lr": 0.0],
            "params": [["name": "w", "shape": [3, 3], "values": .array(values[0..<9].map { .number(Double($0)) })],
                       ["name": "b", "shape": [3], "values": .array(values[9...].map { .number(Double($0)) })]],
        ]
        #expect(f.send("POST", "/v1/sessions", json: create).status.code == 201)
        return f
    }

    static func halves(_ bytes: [UInt8]) -> [UInt16] {
        stride(from: 0, to: bytes.count, by: 2).map { UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8 }
    }

    @Test("raw bf16 and f16 downloads are the round-to-nearest-even 16-bit values, half the bytes", arguments: ["bf16", "f16"])
    func rawHalfDownload(_ dtype: String) throws {
        let f = try Self.fixture()
        let r = f.send("GET", "/v1/sessions/s/params?dtype=\(dtype)", headers: [("Accept", "application/octet-stream")])
        #expect(r.status.code == 200)
        let body = try r.collectBody()
        #expect(body.count == Self.values.count * 2)
        let want = Self.values.map { dtype == "bf16" ? HalfPrecision.floatToBF16($0) : Float16($0).bitPattern }
        #expect(Self.halves(body) == want)
        // A few by hand: 1.00390625 is a bf16 tie (to even: 1.0), 65520 rounds to f16 infinity.
        if dtype == "bf16" { #expect(Self.halves(body)[2] == 0x3F80) } else { #expect(Self.halves(body)[4] == 0x7C00) }
    }

    @Test("bf16 rounding matches the definition on every kind of float: ties to even, NaN stays NaN")
    func bf16Rounding() {
        #expect(HalfPrecision.floatToBF16(Float(bitPattern: 0x3F80_8000)) == 0x3F80)  // tie, even below
        #expect(HalfPrecision.floatToBF16(Float(bitPattern: 0x3F81_8000)) == 0x3F82)  // tie, even above
        #expect(HalfPrecision.floatToBF16(Float(bitPattern: 0x3F80_8001)) == 0x3F81)  // above the tie
        #expect(HalfPrecision.floatToBF16(.infinity) == 0x7F80)
        #expect(HalfPrecision.floatToBF16(Float.greatestFiniteMagnitude) == 0x7F80)   // rounds up to infinity, as torch
        #expect(HalfPrecision.bf16ToFloat(HalfPrecision.floatToBF16(.nan)).isNaN)
        #expect(HalfPrecision.floatToBF16(-0.0) == 0x8000)
    }

    @Test("safetensors download with dtype=bf16 declares BF16 tensors of half the size")
    func safetensorsHalfDownload() throws {
        let f = try Self.fixture()
        let r = f.send("GET", "/v1/sessions/s/params?dtype=bf16&names=b", headers: [("Accept", "application/vnd.safetensors")])
        #expect(r.status.code == 200)
        let file = try SafetensorsFile(bytes: try r.collectBody())
        let b = try #require(file.tensor(named: "b"))
        #expect(b.dtype == .bf16 && b.shape == [3])
        #expect(try file.withUnsafeBytes(of: b) { Self.halves(Array($0)) } == Self.values[9...].map(HalfPrecision.floatToBF16))
    }

    @Test("JSON with dtype=f16 carries the rounded values")
    func jsonHalfDownload() throws {
        let f = try Self.fixture()
        let r = f.send("GET", "/v1/sessions/s/params?dtype=f16", headers: [("Accept", "application/json")])
        #expect(r.status.code == 200)
        guard case .array(let w)? = try r.jsonBody()["params"]?["w"] else { Issue.record("no params.w"); return }
        let got = try w.map { Float(try JSONObjectReader.number($0, field: "w")) }
        #expect(got == Self.values[0..<9].map { Float(Float16($0)) })
    }

    @Test("an unknown dtype is a 422 naming dtype, not a silent float32")
    func unknownDTypeIsRefused() throws {
        let f = try Self.fixture()
        let r = f.send("GET", "/v1/sessions/s/params?dtype=f64", headers: [("Accept", "application/octet-stream")])
        #expect(r.status.code == 422)
        #expect(try BadInputTests.problem(r)["field"] == "dtype")
    }
}
