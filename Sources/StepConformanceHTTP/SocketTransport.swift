import StepHTTPClient

/// Requests over a real TCP connection to a stepd server on this machine, one connection per
/// request (the `socket` layer).
public struct SocketTransport: ConformanceTransport {
    public let port: Int

    public init(port: Int) { self.port = port }

    public var name: String { "socket" }

    public func request(_ method: String, _ target: String, headers: [(String, String)], body: [UInt8]?) throws -> HTTPClientResponse {
        try LoopbackSocket.request(port: port, method, target, headers: headers, body: body)
    }
}
