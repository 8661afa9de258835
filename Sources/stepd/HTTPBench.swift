import StepHTTP
import ArgumentParser
import Foundation
import StepCore
import StepJSON
import StepKernels
import StepHTTPClient
import StepServer

/// `stepd bench http`: the HTTP path measured against bounds taken in the same run.
///
/// 1. A large binary step round trip (POST gradients, step, GET params) against a plain
///    loopback socket moving the same bytes plus the step's own time in process.
/// 2. Small requests under wrk: `GET /healthz` and a 1K-parameter JSON step, against a minimal
///    libmicrohttpd C server (bench/mhd_fixed_reply.c) answering a fixed reply.
struct HTTPBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "http", abstract: "HTTP round trip and small-request throughput against same-run bounds.")

    @Option(help: "Parameters of the large session.") var params = 10_000_000
    @Option(help: "Seconds per large-step measurement.") var seconds: Double = 3
    @Option(help: "wrk duration in seconds per small-request measurement.") var wrkSeconds = 5
    @Option(help: "wrk connections.") var connections = 32
    @Option(help: "Rounds of (C server, stepd) measured alternately; medians are reported.") var rounds = 5
    @Option(help: "C compiler for the reference server.") var cc = "cc"
    @Flag(help: "Skip the wrk part.") var skipWrk = false

    func run() throws {
        let service = StepService(maxBodyBytes: 1 << 31)
        let config = HTTPServer.Configuration(host: "127.0.0.1", port: 0)
        let server = HTTPServer(router: service.router(), configuration: config)
        try server.start()
        defer { server.stop() }
        let port = server.port!
        try largeStep(port: port, service: service)
        if !skipWrk { try smallRequests(port: port) }
    }

    private func largeStep(port: Int, service: StepService) throws {
        let n = params
        let create: JSONValue = ["id": "big", "optimizer": ["type": "adamw", "lr": 1e-3],
                                 "params": [["name": "w", "shape": [.number(Double(n))], "init": ["type": "normal", "std": 0.02, "seed": 1]]]]
        let sink = UnsafeMutableRawBufferPointer.allocate(byteCount: n * 4 + (1 << 16), alignment: 64)
        defer { sink.deallocate() }
        _ = try create.encoded.withUnsafeBytes {
            try LoopbackSocket.http(port: port, "POST", "/v1/sessions", headers: [("Content-Type", "application/json")], body: $0, sink: sink)
        }
        let grads = [Float](repeating: 0.001, count: n)
        let session = try service.registry.get("big")
        let roundTrip = try grads.withUnsafeBytes { g in
            try timed(seconds) {
                let post = try LoopbackSocket.http(port: port, "POST", "/v1/sessions/big/steps",
                                                    headers: [("Content-Type", "application/octet-stream")], body: g, sink: sink)
                let get = try LoopbackSocket.http(port: port, "GET", "/v1/sessions/big/params",
                                                   headers: [("Accept", "application/octet-stream")], sink: sink)
                guard post.status == 200, get.status == 200, get.length == n * 4 else {
                    throw ValidationError("round trip failed: POST \(post.status), GET \(get.status) with \(get.length) bytes")
                }
            }
        }
        let echo = try EchoServer(upload: n * 4, download: n * 4)
        let transport = try grads.withUnsafeBytes { g in try timed(seconds) { try echo.roundTrip(g, sink: sink) } }
        let kernel = try grads.withUnsafeBytes { g in
            try timed(seconds) {
                let upload = try session.beginUpload(dtype: .f32)
                try upload.write(g)
                _ = try session.submit(upload)
            }
        }
        let bound = transport + kernel
        print(String(format: "http round trip, %d-param AdamW, binary: %.1f ms (POST grads + step + GET params)", n, roundTrip * 1e3))
        print(String(format: "  bound: loopback socket moving the same %d MB both ways %.1f ms + in-process step %.1f ms = %.1f ms",
                     (n * 8) >> 20, transport * 1e3, kernel * 1e3, bound * 1e3))
        print(String(format: "  ratio round trip / bound: %.2fx (target <= 1.5x)", roundTrip / bound))
    }

    private func smallRequests(port: Int) throws {
        guard let wrk = which("wrk") else { throw ValidationError("wrk is not installed (apt-get install wrk), or pass --skip-wrk") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stepd-bench-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        // The reference: a minimal libmicrohttpd server, compiled now.
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("bench/mhd_fixed_reply.c")
        let binary = dir.appendingPathComponent("mhd_fixed_reply").path
        try runProcess(cc, ["-O2", "-o", binary, source.path, "-lmicrohttpd"])
        let refPort = 20000 + Int(getpid() % 20000)
        let reference = Process()
        reference.executableURL = URL(fileURLWithPath: binary)
        reference.arguments = [String(refPort), String(ProcessorCount.active)]
        reference.standardOutput = Pipe()
        try reference.run()
        defer { reference.terminate(); reference.waitUntilExit() }
        usleep(300_000)

        // A 1K-parameter session for the JSON step.
        let k = 1024
        let create: JSONValue = ["id": "small", "optimizer": ["type": "adamw", "lr": 1e-3],
                                 "params": [["name": "w", "shape": [.number(Double(k))], "init": "zeros"]]]
        let sink = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { sink.deallocate() }
        _ = try create.encoded.withUnsafeBytes {
            try LoopbackSocket.http(port: port, "POST", "/v1/sessions", headers: [("Content-Type", "application/json")], body: $0, sink: sink)
        }
        // Gradients as a Python client sends float32 values: each a float32 widened to a double,
        // written in its shortest round-trip form (up to 17 digits: the slow case of decimal
        // parsing), and the same values as raw float32 for the binary step.
        let grads = (0..<k).map { Float(sin(Double($0) * 0.37) * 0.01) }
        let stepBody: JSONValue = ["grads": ["w": .array(grads.map { .number(Double($0)) })]]
        let jsonLua = dir.appendingPathComponent("step-json.lua"), binaryLua = dir.appendingPathComponent("step-binary.lua")
        try """
        wrk.method = "POST"
        wrk.headers["Content-Type"] = "application/json"
        wrk.body = '\(stepBody.text)'
        """.write(to: jsonLua, atomically: true, encoding: .utf8)
        // Lua strings take any byte as a decimal escape.
        let rawBody = grads.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }.map { "\\\($0)" }.joined()
        try """
        wrk.method = "POST"
        wrk.headers["Content-Type"] = "application/octet-stream"
        wrk.body = "\(rawBody)"
        """.write(to: binaryLua, atomically: true, encoding: .utf8)

        func load(_ url: String, script: String? = nil) throws -> Double {
            var args = ["-t", "2", "-c", String(connections), "-d", "\(wrkSeconds)s", "--latency"]
            if let script { args += ["-s", script] }
            let out = try runProcess(wrk, args + [url])
            guard let line = out.split(separator: "\n").first(where: { $0.contains("Requests/sec:") }),
                  let v = Double(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("could not read wrk's output:\n\(out)")
            }
            if out.contains("Non-2xx") { throw ValidationError("wrk saw errors against \(url):\n\(out)") }
            return v
        }
        // Alternate so a noisy neighbour hits every contender alike; report medians, and the
        // JSON/binary ratio per round.
        var refs: [Double] = [], healths: [Double] = [], jsonSteps: [Double] = [], binarySteps: [Double] = []
        let stepURL = "http://127.0.0.1:\(port)/v1/sessions/small/steps"
        for _ in 0..<max(1, rounds) {
            refs.append(try load("http://127.0.0.1:\(refPort)/"))
            healths.append(try load("http://127.0.0.1:\(port)/healthz"))
            jsonSteps.append(try load(stepURL, script: jsonLua.path))
            binarySteps.append(try load(stepURL, script: binaryLua.path))
        }
        func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
        let ref = median(refs), health = median(healths)
        let ratio = median(zip(jsonSteps, binarySteps).map { $0 / $1 })
        print(String(format: "wrk, %d connections, %ds each, 2 wrk threads, same machine, median of %d alternating rounds:", connections, wrkSeconds, max(1, rounds)))
        print(String(format: "  minimal libmicrohttpd C server (fixed reply): %9.0f req/s", ref))
        print(String(format: "  stepd GET /healthz:                           %9.0f req/s  (%.0f%% of the C server; target >= 80%%)", health, 100 * health / ref))
        print(String(format: "  stepd POST 1K-param JSON AdamW step:          %9.0f req/s  (target >= 10000)", median(jsonSteps)))
        print(String(format: "  stepd POST 1K-param binary AdamW step:        %9.0f req/s", median(binarySteps)))
        print(String(format: "  JSON / binary, per round:                     %9.2f      (target >= 0.33)", ratio))
    }
}

/// Median seconds per call of a throwing body.
func timed(_ budget: Double, _ body: () throws -> Void) throws -> Double {
    var failure: Error?
    let t = timed(budget) {
        do { try body() } catch { failure = error }
    }
    if let failure { throw failure }
    return t
}

@discardableResult
func runProcess(_ tool: String, _ args: [String]) throws -> String {
    let p = Process()
    p.executableURL = executableURL(tool)
    p.arguments = args
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    guard p.terminationStatus == 0 else { throw ValidationError("\(tool) \(args.joined(separator: " ")) failed:\n\(text)") }
    return text
}

/// `tool` as given when it is an absolute path, else found on PATH.
func executableURL(_ tool: String) -> URL {
    URL(fileURLWithPath: tool.hasPrefix("/") ? tool : (which(tool) ?? tool))
}

func which(_ tool: String) -> String? {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let path = "\(dir)/\(tool)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}
