import StepHTTP
import ArgumentParser
import StepServer

/// Flags that bound what clients can hold: connections, per address and in all, how long a
/// connection may sit idle, and how long it may take over a request head and body. They keep a
/// few slow or greedy clients from taking the server offline for everyone else.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "Most connections open at once; beyond it new clients wait in the listen backlog.")
    var maxConnections = 1024
    @Option(help: "Most connections open at once from one IP address (0: no limit; behind a proxy, all come from the proxy).")
    var maxConnectionsPerAddress = 64
    @Option(help: "Seconds a connection may sit idle, also mid-request.")
    var requestTimeout = 60
    @Option(help: "Seconds a connection has to send a complete request head, from accept or its previous response, however many bytes trickle in; also the keep-alive idle time (0: none).")
    var headerTimeout = 15
    @Option(help: "Seconds a request body may take, plus one per --body-min-rate bytes received (0: none).")
    var bodyTimeout = 30
    @Option(help: "Bytes per second a request body must average once --body-timeout has passed.")
    var bodyMinRate = 1024

    func validate() throws {
        guard maxConnections >= 1 else {
            throw ValidationError("--max-connections \(maxConnections): expected at least 1")
        }
        guard maxConnectionsPerAddress >= 0 else {
            throw ValidationError("--max-connections-per-address \(maxConnectionsPerAddress): expected 0 (no limit) or more")
        }
        for (flag, seconds) in [("--request-timeout", requestTimeout), ("--header-timeout", headerTimeout),
                                ("--body-timeout", bodyTimeout)] where seconds < 0 {
            throw ValidationError("\(flag) \(seconds): expected 0 (none) or more seconds")
        }
        guard bodyMinRate >= 0 else {
            throw ValidationError("--body-min-rate \(bodyMinRate): expected 0 or more bytes per second")
        }
    }

    func apply(to config: inout HTTPServer.Configuration) {
        config.headerTimeoutSeconds = headerTimeout
        config.bodyTimeoutSeconds = bodyTimeout
        config.bodyMinBytesPerSecond = bodyMinRate
        config.connectionLimit = maxConnections
        config.perAddressConnectionLimit = maxConnectionsPerAddress
        config.connectionTimeoutSeconds = requestTimeout
    }
}
