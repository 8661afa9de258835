import ArgumentParser
import StepServer

/// Flags that bound what clients can hold: connections, per address and in all, and how long
/// a connection may sit idle. They keep a few slow or greedy clients from taking the server
/// offline for everyone else.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "Most connections open at once; beyond it new clients wait in the listen backlog.")
    var maxConnections = 1024
    @Option(help: "Most connections open at once from one IP address (0: no limit; behind a proxy, all come from the proxy).")
    var maxConnectionsPerAddress = 64
    @Option(help: "Seconds a connection may sit idle, also mid-request.")
    var requestTimeout = 60

    func validate() throws {
        guard maxConnections >= 1 else {
            throw ValidationError("--max-connections \(maxConnections): expected at least 1")
        }
        guard maxConnectionsPerAddress >= 0 else {
            throw ValidationError("--max-connections-per-address \(maxConnectionsPerAddress): expected 0 (no limit) or more")
        }
        guard requestTimeout >= 0 else {
            throw ValidationError("--request-timeout \(requestTimeout): expected 0 (none) or more seconds")
        }
    }

    func apply(to config: inout HTTPServer.Configuration) {
        config.connectionLimit = maxConnections
        config.perAddressConnectionLimit = maxConnectionsPerAddress
        config.connectionTimeoutSeconds = requestTimeout
    }
}
