import StepHTTP
import ArgumentParser
import Foundation
import Logging
import StepCore
import StepKernels
import StepServer

/// `stepd serve` (and plain `stepd`): the HTTP server.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the HTTP server.")

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks a free one and logs it).") var port = 8080
    @Option(help: "Directory for session snapshots (empty: keep sessions in memory only).") var dataDir = "./stepd-data"
    @Option(help: "Largest request body in bytes.") var maxBodyBytes = 1 << 30
    @Option(help: "Largest JSON request body in bytes (parsed whole, so far below --max-body-bytes).") var maxJsonBodyBytes = 8 << 20
    @Option(help: "Most sessions held at once.") var maxSessions = 1000
    @Option(help: "Most bytes of parameters, optimizer state and gradient buffers over all sessions.") var maxParamBytes = 8 << 30
    @Option(help: "Most moved-away session ids remembered (answered 409 with their new server's Location instead of 404).") var movedKeep = 10_000
    @Option(help: "Seconds a moved-away session id is remembered.") var movedMaxAge: Double = 7 * 86_400
    @Option(help: "File holding the bearer token required on /v1 (or set STEPD_TOKEN): an admin key without a tenant.") var tokenFile: String?
    @Option(help: "JSON file of API keys (SHA-256 hashes) with tenants, roles and quotas; re-read on SIGHUP.") var keysFile: String?
    @Option(help: "HTTP worker threads (default: cores).") var threads: Int?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel = "info"
    @OptionGroup var connections: ConnectionOptions
    @OptionGroup var tls: TLSOptions
    @OptionGroup var snapshots: SnapshotOptions

    func run() throws {
        let stopSignals = StopSignals.block()
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "stepd")
        var token = ProcessInfo.processInfo.environment["STEPD_TOKEN"]
        if let tokenFile {
            token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !(token ?? "").isEmpty else { throw ValidationError("--token-file \(tokenFile) is empty") }
        }
        let authenticator: Authenticator
        do {
            authenticator = try keysFile.map { try Authenticator(token: token, keysFile: $0) } ?? Authenticator(token: token)
        } catch {
            throw ValidationError("\(error)")
        }
        let credentials = try tls.credentials()
        guard movedKeep >= 0, movedMaxAge >= 0, movedMaxAge < 1e12 else {
            throw ValidationError("--moved-keep and --moved-max-age must be >= 0 (and the age under 1e12 seconds), got \(movedKeep) and \(movedMaxAge)")
        }
        let moved = MovedAway.Retention(keep: movedKeep, maxAgeMillis: Int64(movedMaxAge * 1000))
        let registry = SessionRegistry(limits: .init(maxSessions: maxSessions, maxParamBytes: maxParamBytes, movedAway: moved))
        let store = try snapshots.makePersistence(dataDir: dataDir, registry: registry, logger: logger)
        let service = StepService(registry: registry, persistence: store.persistence, maxBodyBytes: maxBodyBytes,
                                  maxJSONBodyBytes: maxJsonBodyBytes, authenticator: authenticator)
        if let keysFile { logger.info("keys: \(authenticator.keyCount) keys from \(keysFile), tenants: \(authenticator.tenants.joined(separator: ", "))") }
        var config = HTTPServer.Configuration(host: host, port: port)
        connections.apply(to: &config)
        config.tls = credentials
        config.threads = threads ?? ProcessorCount.active
        let server = HTTPServer(router: service.router(), configuration: config, logger: Logger(label: "stepd.http"))
        try server.start()
        let scheme = credentials == nil ? "http" : "https"
        logger.info("stepd listening on \(scheme)://\(host):\(server.port ?? port) (data dir: \(dataDir.isEmpty ? "none, memory only" : dataDir), sessions: \(registry.count), kernels: \(InstructionSet.detected), threads: \(config.threads), \(TLSOptions.state(on: credentials != nil)))")

        // SIGHUP re-reads the keys file (one that does not validate changes nothing); without
        // a keys file it is ignored rather than ending the server.
        while stopSignals.wait() == SIGHUP {
            guard let keysFile else { continue }
            do {
                let n = try service.reloadKeys()
                logger.info("keys: reloaded \(keysFile): \(n) keys in force")
            } catch {
                logger.error("keys: reload refused, the previous keys stay in force: \(error)")
            }
        }
        logger.info("stopping: no new requests; writing snapshots of changed sessions")
        server.stop()
        store.shutdown()
        logger.info("stopped")
    }
}
