@testable import StepHTTP
import StepHTTPTesting
import Foundation

/// The real `stepd` binary in a child process, for tests that must kill it: crash recovery
/// is only tested honestly by a process that really dies.
final class StepdProcess {
    let process = Process()
    let port: Int
    private let stderr = Pipe()
    private(set) var log = ""

    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["STEPD_BIN"] { return URL(fileURLWithPath: path) }
        return Paths.packageRoot.appendingPathComponent(".build/debug/stepd")
    }

    /// - Parameter environment: added to this process's environment (`STEPD_TOKEN`).
    init(dataDir: String, extra: [String] = [], environment: [String: String] = [:]) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary.path) else {
            throw ConformanceLikeError("no stepd binary at \(Self.binary.path): run `swift build --product stepd` first (scripts/test does)")
        }
        process.executableURL = Self.binary
        process.arguments = ["serve", "--port", "0", "--data-dir", dataDir, "--log-level", "info"] + extra
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // The port comes from the "listening" line.
        var text = ""
        let deadline = Date().addingTimeInterval(30)
        var found: Int? = nil
        while found == nil, Date() < deadline {
            let data = stderr.fileHandleForReading.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
            if let r = text.range(of: #"listening on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                found = Int(text[r].split(separator: ":").last!)
            }
        }
        log = text
        guard let found else {
            process.terminate()
            throw ConformanceLikeError("stepd did not start: \(text)")
        }
        port = found
    }

    var client: TestHTTPClient { TestHTTPClient(port: port) }

    /// A connection from `source` that has sent a request head without its end, as a slow
    /// client would.
    func slowConnection(from source: String) throws -> TestHTTPClient.Connection {
        var c = client
        c.sourceHost = source
        let connection = try c.open()
        connection.send(Array("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ".utf8))
        return connection
    }

    /// SIGKILL: no shutdown code runs.
    func crash() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM and wait: the graceful path (snapshots of changed sessions, then exit).
    func terminate() -> Int32 {
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        log += String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { crash() }
    }
}

struct ConformanceLikeError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

func temporaryDirectory(_ name: String) -> String {
    let path = NSTemporaryDirectory() + "stepd-\(name)-\(UInt32.random(in: 0 ... .max))"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
