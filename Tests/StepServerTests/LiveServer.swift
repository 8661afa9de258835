@testable import StepHTTP
import StepHTTPTesting
import Foundation
import StepCore
import StepJSON
import StepKernels
import StepServer

/// A real stepd HTTP server on a free loopback port, for tests that go over the socket.
final class LiveServer {
    let service: StepService
    let server: HTTPServer
    let client: TestHTTPClient

    init(service: StepService = StepService(parallel: Parallel(threads: 2))) throws {
        self.service = service
        var config = HTTPServer.Configuration(host: "127.0.0.1", port: 0)
        config.threads = 4
        server = HTTPServer(router: service.router(), configuration: config)
        try server.start()
        client = TestHTTPClient(port: server.port!)
    }

    deinit { server.stop() }

    func json(_ method: String, _ target: String, _ body: JSONValue? = nil, headers: [(String, String)] = []) throws -> TestHTTPClient.Response {
        var h = headers
        if body != nil { h.append(("Content-Type", "application/json")) }
        return try client.request(method, target, headers: h, body: body?.encoded)
    }
}

/// The repository root, from this file's path (for the built `stepd`).
enum Paths {
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
}

extension Array where Element == Float {
    var littleEndianBytes: [UInt8] { withUnsafeBytes { [UInt8]($0) } }
}

extension Array where Element == UInt8 {
    var floats: [Float] {
        withUnsafeBytes { raw in (0..<(count / 4)).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
    }
}
