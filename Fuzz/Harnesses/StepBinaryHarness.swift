import StepHTTP
import StepHTTPTesting
import StepServer
import HTTPTypes

/// A raw gradient upload (`application/octet-stream`) to `POST /v1/sessions/s/steps`, with the
/// request framing chosen by the input's first bytes; the rest is the body:
///
///     byte 0  bits 0-2: ?dtype= absent, f32, bf16, f16, float32, BF16, f8 (refused), or empty
///             bit 3: ?loss=0.5   bit 4: ?loss=nan   bit 5: Idempotency-Key: k<byte 2>
///             bit 6: If-Match: "*"   bit 7: ?worker=<byte 2>
///     byte 1  Content-Length: 0 absent, 1 exact, 2 exact + byte 2, 3 exact - byte 2,
///             4 absent with Transfer-Encoding: chunked, 5 two that disagree, 6 not a number,
///             7 larger than the router's limit
///     byte 2  a small number for the fields above
///     byte 3  k = byte 3 % 8 chunk cuts, then k bytes: the lengths of the first k chunks
///             (the last chunk is the rest of the body)
///
/// Session "s" takes 8 values: 32 bytes of f32, 16 of bf16 or f16.
enum StepBinaryHarness {
    static let dtypes: [String?] = [nil, "f32", "bf16", "f16", "float32", "BF16", "f8", ""]

    static func run(_ data: UnsafeRawBufferPointer) {
        guard data.count >= 4 else { return }
        let flags = data[0], lengthMode = data[1], n = Int(data[2])
        let cuts = Int(data[3] % 8)
        guard data.count >= 4 + cuts else { return }
        let body = Array(data[(4 + cuts)...])

        var query: [String] = []
        if let d = dtypes[Int(flags & 7)] { query.append("dtype=\(d)") }
        if flags & 8 != 0 { query.append("loss=0.5") }
        if flags & 16 != 0 { query.append("loss=nan") }
        if flags & 128 != 0 { query.append("worker=\(n)") }
        var headers: HTTPFields = [.contentType: "application/octet-stream"]
        if flags & 32 != 0 { headers.append(HTTPField(name: .idempotencyKey, value: "k\(n)")) }
        if flags & 64 != 0 { headers.append(HTTPField(name: .ifMatch, value: "\"*\"")) }
        switch lengthMode % 8 {
        case 1: headers.append(HTTPField(name: .contentLength, value: String(body.count)))
        case 2: headers.append(HTTPField(name: .contentLength, value: String(body.count + n)))
        case 3: headers.append(HTTPField(name: .contentLength, value: String(max(0, body.count - n))))
        case 4: headers.append(HTTPField(name: .transferEncoding, value: "chunked"))
        case 5:
            headers.append(HTTPField(name: .contentLength, value: String(body.count)))
            headers.append(HTTPField(name: .contentLength, value: String(body.count + 1 + n)))
        case 6: headers.append(HTTPField(name: .contentLength, value: "\(body.count)x"))
        case 7: headers.append(HTTPField(name: .contentLength, value: String((2 << 20) + n)))
        default: break
        }

        var chunks: [[UInt8]] = []
        var at = 0
        for i in 0..<cuts where at < body.count {
            let len = min(Int(data[4 + i]), body.count - at)
            chunks.append(Array(body[at..<(at + len)]))
            at += len
        }
        if at < body.count { chunks.append(Array(body[at...])) }

        let target = "/v1/sessions/s/steps" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        let response = stepFixture.1.handle(HTTPRequestHead(method: .post, target: target, headers: headers), body: chunks)
        Fixtures.check(response, "a binary step to \(target) with \(headers.map { "\($0.name): \($0.value)" })")
    }
}
