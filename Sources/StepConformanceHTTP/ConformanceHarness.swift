import StepHTTP
import StepHTTPTesting
import StepConformance
import StepKernels
import StepServer

/// What a conformance run needs at the chosen layers: one `StepService` behind both the
/// in-process router and a real HTTP server started on a free loopback port (only when the
/// socket layer is chosen), and fresh drivers for each case.
public final class ConformanceHarness {
    public let layers: [ConformanceLayer]
    public let threads: Int
    public let service: StepService
    let router: Router
    let server: HTTPServer?

    /// `threads`: for the kernels at every layer (results must not depend on it).
    public init(layers: [ConformanceLayer] = ConformanceLayer.allCases, threads: Int = 1) throws {
        self.layers = ConformanceLayer.allCases.filter { layers.contains($0) }
        self.threads = threads
        service = StepService(parallel: Parallel(threads: threads, minimumPerThread: 16))
        router = service.router()
        if layers.contains(.socket) {
            var config = HTTPServer.Configuration(host: "127.0.0.1", port: 0)
            config.threads = 2
            let server = HTTPServer(router: router, configuration: config)
            try server.start()
            self.server = server
        } else {
            server = nil
        }
    }

    deinit { server?.stop() }

    /// The real server's port, when the socket layer runs.
    public var port: Int? { server?.port }

    /// The layers as result lines name them, in the order `drivers()` returns them.
    public var layerNames: [String] { drivers().map(\.layer) }

    /// Fresh drivers for one case: the library, then the router and the socket each in JSON
    /// and in binary bodies.
    public func drivers() -> [any ConformanceDriver] {
        var out: [any ConformanceDriver] = []
        for layer in layers {
            switch layer {
            case .library:
                out.append(SessionDriver(threads: threads))
            case .router:
                let t = RouterTransport(router: router)
                out += HTTPConformanceDriver.Encoding.allCases.map { HTTPConformanceDriver(transport: t, encoding: $0) }
            case .socket:
                let t = SocketTransport(port: server!.port!)
                out += HTTPConformanceDriver.Encoding.allCases.map { HTTPConformanceDriver(transport: t, encoding: $0) }
            }
        }
        return out
    }

    /// One case replayed by every driver, in order.
    public func run(_ c: ConformanceCase) -> [ConformanceResult] {
        drivers().map { d in
            var driver = d
            return ConformanceRunner.run(c, driver: &driver)
        }
    }

    /// Stops the server (also done when the harness goes away).
    public func stop() { server?.stop() }
}
