import StepHTTP
import StepHTTPTesting
import StepHTTPClient
import StepServer
import HTTPTypes

/// Requests handed straight to the StepServer application's `Router`, in-process: routing,
/// authentication, body decoding and encoding exactly as the server runs them, with no network
/// (the `router` layer).
public struct RouterTransport: ConformanceTransport {
    public let router: Router

    public init(router: Router) { self.router = router }

    public var name: String { "router" }

    public func request(_ method: String, _ target: String, headers: [(String, String)], body: [UInt8]?) throws -> HTTPClientResponse {
        var h = HTTPFields(headers)
        if let body { h[.contentLength] = String(body.count) }
        let r = router.handle(HTTPRequestHead(method: HTTPRequest.Method(token: method), target: target, headers: h), body: body ?? [])
        return HTTPClientResponse(status: r.status.code, headers: r.headers.map { ($0.name.rawName, $0.value) }, body: try r.collectBody())
    }
}
