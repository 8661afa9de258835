import StepHTTP
import StepHTTPTesting
import StepServer

/// The input as the JSON body of `POST /v1/sessions/s/steps`, through the in-process router:
/// media type and body handling, `grads` decoding, `loss`/`worker`/`micro_batch`, unknown fields,
/// and the step itself (non-finite values, clipping) when the body is good.
enum StepJSONHarness {
    static func run(_ data: UnsafeRawBufferPointer) {
        let body = Array(data)
        let head = HTTPRequestHead(method: .post, target: "/v1/sessions/s/steps",
                                   headers: [.contentType: "application/json", .contentLength: String(body.count)])
        // Chunk size from the length, so splits differ from input to input but replay the same.
        let response = stepFixture.1.handle(head, body: body, chunkSize: 1 + body.count % 61)
        Fixtures.check(response, "a JSON step body")
    }
}
