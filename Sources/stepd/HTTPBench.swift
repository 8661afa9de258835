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
///    loopback socket moving the same bytes plus the step's own time in process; and the upload
///    alone and the download alone against a socket moving the same bytes one way. All seven
///    are measured in turn within each of `--step-rounds` rounds and compared within a round.
/// 2. Small requests under wrk: `GET /healthz` and a 1K-parameter JSON step, against a minimal
///    libmicrohttpd C server (bench/mhd_fixed_reply.c) answering a fixed reply.
struct HTTPBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "http", abstract: "HTTP round trip and small-request throughput against same-run bounds.")

    @Option(help: "Parameters of the large session.") var params = 10_000_000
    @Option(help: "Seconds per large-body contender (about), over all --step-rounds.") var seconds: Double = 3
    @Option(help: "Interleaved rounds of the large-body contenders; per-round ratios, medians reported.") var stepRounds = 7
    @Option(help: "wrk duration in seconds per small-request measurement.") var wrkSeconds = 5
    @Option(help: "wrk connections.") var connections = 32
    @Option(help: "Rounds of (C server, stepd) measured alternately; medians are reported.") var rounds = 5
    @Option(help: "C compiler for the reference server.") var cc = "cc"
    @Flag(help: "Skip the wrk part.") var skipWrk = false
    @Option(help: ArgumentHelp("Server connection memory limit (bytes) to try instead of the default.", visibility: .hidden)) var connectionMemoryLimit: Int?
    @Option(help: ArgumentHelp("Server connection memory increment (bytes) to try.", visibility: .hidden)) var connectionMemoryIncrement: Int?
    @Option(help: ArgumentHelp("Server socket receive buffer (bytes) to try.", visibility: .hidden)) var receiveBuffer: Int?
    @Option(help: "Run only this large-body contender (round-trip, socket-both-ways, step, upload, socket-upload, download, socket-download) for --seconds; print its median and the CPU per call of each thread (for a profiler).") var only: String?
    @Option(help: ArgumentHelp("Server streamed-response block size (bytes) to try instead of the default.", visibility: .hidden)) var streamBlockSize: Int?

    func run() throws {
        let service = StepService(maxBodyBytes: 1 << 31)
        var config = HTTPServer.Configuration(host: "127.0.0.1", port: 0)
        if let connectionMemoryLimit { config.connectionMemoryLimit = connectionMemoryLimit }
        if let streamBlockSize { config.streamBlockSize = streamBlockSize }
        if let connectionMemoryIncrement { config.connectionMemoryIncrement = connectionMemoryIncrement }
        if let receiveBuffer { config.socketReceiveBuffer = receiveBuffer }
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
        let raw = [("Content-Type", "application/octet-stream")]
        // Upload alone: a retried step (the same Idempotency-Key) streams the whole body into a
        // gradient buffer like any step, then is answered from the idempotency cache without
        // applying anything, so it costs the wire and the server's handling of the bytes only.
        let replay = raw + [("Idempotency-Key", "bench-upload")]
        _ = try grads.withUnsafeBytes { g in
            try LoopbackSocket.http(port: port, "POST", "/v1/sessions/big/steps", headers: replay, body: g, sink: sink)
        }
        let both = try EchoServer(upload: n * 4, download: n * 4)
        let up = try EchoServer(upload: n * 4, download: 1)
        let down = try EchoServer(upload: 1, download: n * 4)
        let one: [UInt8] = [1]

        func post(_ headers: [(String, String)], _ g: UnsafeRawBufferPointer) throws {
            let r = try LoopbackSocket.http(port: port, "POST", "/v1/sessions/big/steps", headers: headers, body: g, sink: sink)
            guard r.status == 200 else { throw ValidationError("POST of \(n * 4) bytes failed: \(r.status)") }
        }
        func get() throws {
            let r = try LoopbackSocket.http(port: port, "GET", "/v1/sessions/big/params", headers: [("Accept", "application/octet-stream")], sink: sink)
            guard r.status == 200, r.length == n * 4 else { throw ValidationError("GET params failed: \(r.status) with \(r.length) bytes") }
        }
        let contenders: [(name: String, run: (UnsafeRawBufferPointer) throws -> Void)] = [
            ("round-trip", { g in try post(raw, g); try get() }),
            ("socket-both-ways", { g in try both.roundTrip(g, sink: sink) }),
            ("step", { g in
                let upload = try session.beginUpload(dtype: .f32)
                try upload.write(g)
                _ = try session.submit(upload)
            }),
            ("upload", { g in try post(replay, g) }),
            ("socket-upload", { g in try up.roundTrip(g, sink: sink) }),
            ("download", { _ in try get() }),
            ("socket-download", { _ in try one.withUnsafeBytes { try down.roundTrip($0, sink: sink) } }),
        ]
        if let only {
            guard let c = contenders.first(where: { $0.name == only }) else {
                throw ValidationError("--only: one of \(contenders.map(\.name).joined(separator: ", "))")
            }
            var count = 0
            let before = threadCPU()
            let t = try grads.withUnsafeBytes { g in try timed(seconds) { count += 1; try c.run(g) } }
            let after = threadCPU()
            print(String(format: "%@: %.1f ms", only, t * 1e3))
            // MHD-worker: the server; (main): the client; the process's other threads: the
            // echo servers' (and the step's helpers).
            for (name, ns) in after.sorted(by: { $0.key < $1.key }) {
                let d = Double(ns - (before[name] ?? 0)) / Double(count) / 1e6
                if d > 0.05 { print(String(format: "  %@ cpu %.2f ms per call", name, d)) }
            }
            return
        }
        // The contenders take turns call by call, cycling until a round's time is up, so a noisy
        // neighbour hits them all alike; each contender's median is taken per round, and each
        // ratio within a round.
        let rounds = max(1, stepRounds)
        let roundSeconds = seconds * Double(contenders.count) / Double(rounds)
        var medians = [[Double]](repeating: [], count: contenders.count)
        var cpu = [[Double]](repeating: [], count: contenders.count)
        var calls = 0
        try grads.withUnsafeBytes { g in
            for c in contenders { try c.run(g) }
            for _ in 0..<rounds {
                var samples = [[Double]](repeating: [], count: contenders.count)
                let start = DispatchTime.now().uptimeNanoseconds
                repeat {
                    for (i, c) in contenders.enumerated() {
                        let c0 = processCPUSeconds(), t0 = DispatchTime.now().uptimeNanoseconds
                        try c.run(g)
                        samples[i].append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
                        cpu[i].append(processCPUSeconds() - c0)
                    }
                } while Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 < roundSeconds || samples[0].count < 3
                calls += samples[0].count
                for i in samples.indices { medians[i].append(samples[i].sorted()[samples[i].count / 2]) }
            }
        }
        func perRound(_ f: (Int) -> Double) -> (median: Double, low: Double, high: Double) {
            let xs = (0..<rounds).map(f).sorted()
            return (xs[xs.count / 2], xs.first!, xs.last!)
        }
        func ms(_ i: Int) -> Double { medians[i].sorted()[rounds / 2] * 1e3 }
        func cpuMS(_ i: Int) -> Double { cpu[i].sorted()[cpu[i].count / 2] * 1e3 }
        let rt = perRound { medians[0][$0] / (medians[1][$0] + medians[2][$0]) }
        let upload = perRound { medians[4][$0] / medians[3][$0] }
        let download = perRound { medians[6][$0] / medians[5][$0] }
        let mb = Double(n * 4) / 1e6
        print(String(format: "http, %d-param AdamW, binary bodies of %.0f MB; %d rounds, the %d contenders taking turns call by call (%d calls each);",
                     n, mb, rounds, contenders.count, calls))
        print("medians of the per-round medians, per-round ratios (their range); cpu: this process's CPU time per call, client and server threads together")
        let what = ["round trip: POST grads + step + GET params", "loopback socket, the same bytes both ways",
                    "in-process step (gradients copied in + step)", "upload alone (a retried step: body in, nothing applied)",
                    "loopback socket, the upload's bytes one way", "download alone (GET params)", "loopback socket, the download's bytes one way"]
        for i in contenders.indices {
            let rate = i == 2 ? "" : String(format: "%5.2f GB/s", (i == 0 || i == 1 ? 2 : 1) * mb / ms(i))
            print(String(format: "  %-56@ %6.1f ms  %@  cpu %5.1f ms", what[i], ms(i), rate, cpuMS(i)))
        }
        print(String(format: "  round trip / (socket both ways + step): %.2fx (%.2f-%.2f; target <= 1.3x); in CPU time %.2fx",
                     rt.median, rt.low, rt.high, cpuMS(0) / (cpuMS(1) + cpuMS(2))))
        print(String(format: "  upload at %.0f%% of the socket's speed (%.0f-%.0f%%), download at %.0f%% (%.0f-%.0f%%); target >= 80%% each; in CPU time %.0f%% and %.0f%%",
                     100 * upload.median, 100 * upload.low, 100 * upload.high, 100 * download.median, 100 * download.low, 100 * download.high,
                     100 * cpuMS(4) / cpuMS(3), 100 * cpuMS(6) / cpuMS(5)))
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

        /// Requests per second, and the server's CPU microseconds per request (`pid`'s user +
        /// system time over the load, divided by the requests wrk completed).
        func load(_ url: String, script: String? = nil, pid: Int32) throws -> (rate: Double, cpu: Double) {
            var args = ["-t", "2", "-c", String(connections), "-d", "\(wrkSeconds)s", "--latency"]
            if let script { args += ["-s", script] }
            let cpu0 = cpuSeconds(pid: pid)
            let out = try runProcess(wrk, args + [url])
            let cpu = cpuSeconds(pid: pid) - cpu0
            guard let line = out.split(separator: "\n").first(where: { $0.contains("Requests/sec:") }),
                  let v = Double(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)),
                  let done = out.split(separator: "\n").first(where: { $0.contains("requests in") })?
                      .split(separator: " ").first.flatMap({ Double($0) }), done > 0 else {
                throw ValidationError("could not read wrk's output:\n\(out)")
            }
            if out.contains("Non-2xx") { throw ValidationError("wrk saw errors against \(url):\n\(out)") }
            return (v, cpu / done * 1e6)
        }
        // Alternate so a noisy neighbour hits every contender alike; report medians, and the
        // JSON/binary ratio per round.
        var refs: [(rate: Double, cpu: Double)] = [], healths: [(rate: Double, cpu: Double)] = []
        var jsonSteps: [(rate: Double, cpu: Double)] = [], binarySteps: [(rate: Double, cpu: Double)] = []
        let stepURL = "http://127.0.0.1:\(port)/v1/sessions/small/steps"
        let me = getpid()
        for _ in 0..<max(1, rounds) {
            refs.append(try load("http://127.0.0.1:\(refPort)/", pid: reference.processIdentifier))
            healths.append(try load("http://127.0.0.1:\(port)/healthz", pid: me))
            jsonSteps.append(try load(stepURL, script: jsonLua.path, pid: me))
            binarySteps.append(try load(stepURL, script: binaryLua.path, pid: me))
        }
        func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
        let ref = median(refs.map(\.rate)), health = median(healths.map(\.rate))
        let ratio = median(zip(jsonSteps, binarySteps).map { $0.rate / $1.rate })
        func cpu(_ xs: [(rate: Double, cpu: Double)]) -> String { String(format: "server cpu %5.1f us/request", median(xs.map(\.cpu))) }
        print(String(format: "wrk, %d connections, %ds each, 2 wrk threads, same machine, median of %d alternating rounds:", connections, wrkSeconds, max(1, rounds)))
        print(String(format: "  minimal libmicrohttpd C server (fixed reply): %9.0f req/s                          %@", ref, cpu(refs)))
        print(String(format: "  stepd GET /healthz:                           %9.0f req/s  (%3.0f%% of the C server)  %@; target >= 80%%", health, 100 * health / ref, cpu(healths)))
        print(String(format: "  stepd POST 1K-param JSON AdamW step:          %9.0f req/s                          %@; target >= 10000 req/s", median(jsonSteps.map(\.rate)), cpu(jsonSteps)))
        print(String(format: "  stepd POST 1K-param binary AdamW step:        %9.0f req/s                          %@", median(binarySteps.map(\.rate)), cpu(binarySteps)))
        print(String(format: "  JSON / binary, per round:                     %9.2f      (target >= 0.33)", ratio))
    }
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

/// Median seconds per call of a throwing body.
func timed(_ budget: Double, _ body: () throws -> Void) throws -> Double {
    var failure: Error?
    let t = timed(budget) {
        do { try body() } catch { failure = error }
    }
    if let failure { throw failure }
    return t
}

/// User plus system CPU seconds of the whole process so far (every thread).
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// CPU nanoseconds by thread name (threads of one name summed), from /proc.
func threadCPU() -> [String: Int] {
    var out: [String: Int] = [:]
    for tid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? [] {
        guard let comm = try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8),
              let stat = try? String(contentsOfFile: "/proc/self/task/\(tid)/schedstat", encoding: .utf8),
              let ns = Int(stat.split(separator: " ")[0]) else { continue }
        out[comm.trimmingCharacters(in: .whitespacesAndNewlines) + (tid == String(getpid()) ? " (main)" : ""), default: 0] += ns
    }
    return out
}

/// User plus system CPU seconds of process `pid` so far, from /proc (clock-tick resolution).
func cpuSeconds(pid: Int32) -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return 0 }
    // Fields after the command name: state is field 3, utime 14 and stime 15.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}
