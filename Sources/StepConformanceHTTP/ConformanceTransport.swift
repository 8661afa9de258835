import StepHTTPClient

/// How an `HTTPConformanceDriver` reaches the HTTP API: the application's router in-process
/// (`RouterTransport`), or a running server over a socket (`SocketTransport`).
public protocol ConformanceTransport: Sendable {
    /// The first half of the driver's layer name: `router`, `socket`.
    var name: String { get }
    /// One request; the whole response.
    func request(_ method: String, _ target: String, headers: [(String, String)], body: [UInt8]?) throws -> HTTPClientResponse
}
