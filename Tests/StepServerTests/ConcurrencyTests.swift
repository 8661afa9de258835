@testable import StepHTTP
import StepHTTPTesting
import Foundation
import StepCore
import StepJSON
import StepKernels
import StepServer
import Testing

/// Many clients on many sessions at once over real sockets: every result must still be exactly
/// what a single in-process `Session` produces from the same steps in the same order. Different
/// sessions run in parallel; steps of one session are serialized by its lock, so the server may
/// interleave sessions freely but never lose, repeat or reorder a session's steps.
@Suite struct ConcurrencyTests {
    static let clients = 8

    /// A small AdamW session; `k` varies the shapes' values, seed and hyperparameters.
    static func config(_ k: Int) -> JSONValue {
        let w: [JSONValue] = (0..<12).map { i in .number(Double(Float(sin(Double(k * 12 + i)) * 0.5))) }
        return [
            "optimizer": ["type": "adamw", "lr": .number(1e-3 * Double(1 + k % 7)), "weight_decay": .number(0.01 * Double(k % 3))],
            "schedule": ["type": "warmup_cosine", "warmup_steps": 2, "total_steps": 20],
            "clip": ["max_norm": 2.0],
            "groups": [["name": "bias", "weight_decay": 0]],
            "params": [
                ["name": "w", "shape": [3, 4], "values": .array(w)],
                ["name": "b", "shape": [5], "init": ["type": "normal", "std": 0.1, "seed": .number(Double(k))], "group": "bias"],
            ],
        ]
    }

    /// The gradient session `k` gets at its step `t` (all tensors in declared order: w then b).
    static func gradient(_ k: Int, _ t: Int) -> [Float] {
        (0..<17).map { i in Float(cos(Double(k * 131 + t * 17 + i) * 0.37)) * (t % 3 == 2 ? 3 : 0.4) }
    }

    static func referenceSession(_ k: Int, id: String) throws -> Session {
        let (config, inits) = try SessionConfig.parse(config(k))
        return Session(id: id, config: config, inits: inits, parallel: Parallel(threads: 2))
    }

    static func jsonStep(_ g: [Float], loss: Double) -> JSONValue {
        ["grads": ["w": .array(g[0..<12].map { .number(Double($0)) }), "b": .array(g[12...].map { .number(Double($0)) })],
         "loss": .number(loss)]
    }

    static func postJSON(_ client: TestHTTPClient, _ target: String, _ body: JSONValue,
                         headers: [(String, String)] = []) throws -> TestHTTPClient.Response {
        try client.request("POST", target, headers: [("Content-Type", "application/json")] + headers, body: body.encoded)
    }

    static func createOverHTTP(_ client: TestHTTPClient, id: String, k: Int) throws {
        guard case .object(var o) = config(k) else { return }
        o["id"] = .string(id)
        let r = try postJSON(client, "/v1/sessions", .object(o))
        guard r.status == 201 else { throw TestFailure("create \(id): \(r.status) \(r.text)") }
    }

    /// The session's parameters over HTTP, as raw float32 bits in declared order.
    static func paramBits(_ client: TestHTTPClient, id: String) throws -> (step: Int, bits: [UInt32]) {
        let r = try client.request("GET", "/v1/sessions/\(id)/params", headers: [("Accept", "application/octet-stream")])
        guard r.status == 200, let etag = r.headers[.eTag], let step = Int(etag.dropFirst().dropLast()) else {
            throw TestFailure("params \(id): \(r.status) \(r.text)")
        }
        return (step, r.body.floats.map(\.bitPattern))
    }

    static func referenceBits(_ s: Session) throws -> [UInt32] {
        try s.readParams().tensors.flatMap { $0.1.map(\.bitPattern) }
    }

    /// Posts one step, JSON or raw float32 by `binary`; returns the HTTP response.
    static func post(_ client: TestHTTPClient, id: String, _ g: [Float], loss: Double, binary: Bool,
                     headers: [(String, String)] = []) throws -> TestHTTPClient.Response {
        if binary {
            return try client.request("POST", "/v1/sessions/\(id)/steps?loss=\(loss)",
                                             headers: [("Content-Type", "application/octet-stream")] + headers, body: g.littleEndianBytes)
        }
        return try postJSON(client, "/v1/sessions/\(id)/steps", jsonStep(g, loss: loss), headers: headers)
    }

    @Test func eightClientsOnAHundredSessionsMatchTheInProcessReferenceExactly() throws {
        let server = try LiveServer()
        defer { withExtendedLifetime(server) {} }
        let client = server.client
        let sessions = 100, steps = 6
        let ids = (0..<sessions).map { "conc-\($0)" }
        for k in 0..<sessions { try Self.createOverHTTP(client, id: ids[k], k: k) }

        // Work items round by round, sessions shuffled within a round (seeded, so a failure
        // reproduces). Threads take items from a shared cursor, so a session's consecutive steps
        // usually go out from different threads, and step t+1 may be posted while step t is still
        // in flight: `If-Match: "t"` keeps the order (412 → that thread retries shortly).
        var rng = SplitMix64(seed: 42)
        var items: [(k: Int, t: Int)] = []
        for t in 0..<steps {
            for k in (0..<sessions).shuffled(using: &rng) { items.append((k, t)) }
        }
        let work = items
        let cursor = LockedBox(0)
        let failures = LockedBox<[String]>([])
        let retries = LockedBox(0)
        let threadsSeen = LockedBox<[Int: Set<Int>]>([:])
        runThreads(Self.clients) { worker in
            while true {
                let next = cursor.update { i -> Int in defer { i += 1 }; return i }
                guard next < work.count else { return }
                let (k, t) = work[next]
                let binary = (k + t + worker) % 2 == 0
                var attempt = 0
                while true {
                    do {
                        let r = try Self.post(client, id: ids[k], Self.gradient(k, t), loss: Double(t) + 0.5, binary: binary,
                                              headers: [("If-Match", "\"\(t)\"")])
                        if r.status == 412, attempt < 5000 {
                            attempt += 1
                            retries.update { $0 += 1 }
                            usleep(200)
                            continue
                        }
                        guard r.status == 200, case .number(let step)? = try r.json()["step"], Int(step) == t + 1 else {
                            failures.update { $0.append("\(ids[k]) step \(t) (\(binary ? "binary" : "json")): \(r.status) \(r.text)") }
                            return
                        }
                        threadsSeen.update { $0[k, default: []].insert(worker) }
                    } catch {
                        failures.update { $0.append("\(ids[k]) step \(t): \(error)") }
                    }
                    break
                }
            }
        }
        #expect(failures.value.isEmpty, "\(failures.value.prefix(5))")
        // The load really was spread: most sessions were stepped by more than one client.
        let shared = threadsSeen.value.values.filter { $0.count > 1 }.count
        #expect(shared > sessions / 2, "only \(shared) sessions were stepped by more than one client")

        for k in 0..<sessions {
            let reference = try Self.referenceSession(k, id: ids[k])
            for t in 0..<steps {
                _ = try reference.step(grads: ["w": Self.gradient(k, t)[0..<12].map(Double.init), "b": Self.gradient(k, t)[12...].map(Double.init)],
                                       loss: Double(t) + 0.5)
            }
            let (step, bits) = try Self.paramBits(client, id: ids[k])
            #expect(step == steps, "\(ids[k]) is at step \(step)")
            #expect(bits == (try Self.referenceBits(reference)), "\(ids[k]) parameters differ from the in-process reference")
            let history = try server.json("GET", "/v1/sessions/\(ids[k])/history").json()
            if case .array(let records)? = history["records"] {
                #expect(records.count == steps)
                #expect(records.map { $0["loss"] } == (0..<steps).map { .number(Double($0) + 0.5) }, "\(ids[k]) took its steps out of order")
            } else {
                Issue.record("\(ids[k]) history: \(history)")
            }
        }
    }

    @Test func concurrentStepsToOneSessionAreEachAppliedExactlyOnce() throws {
        let server = try LiveServer()
        defer { withExtendedLifetime(server) {} }
        let client = server.client
        let id = "one-target"
        try Self.createOverHTTP(client, id: id, k: 7)
        let perClient = 12
        let total = Self.clients * perClient
        // Identical gradients, so the order the server picks does not change the result, and
        // every request must be applied once: no lost update, no double step.
        let g = Self.gradient(7, 1)
        let steps = LockedBox<[Int]>([])
        let failures = LockedBox<[String]>([])
        runThreads(Self.clients) { worker in
            for n in 0..<perClient {
                do {
                    // A unique Idempotency-Key per request must not merge distinct requests.
                    let r = try Self.post(client, id: id, g, loss: 1, binary: (worker + n) % 2 == 0,
                                          headers: [("Idempotency-Key", "c\(worker)-n\(n)")])
                    guard r.status == 200, case .number(let s)? = try r.json()["step"], r.headers[.eTag] == "\"\(Int(s))\"" else {
                        failures.update { $0.append("\(r.status) \(r.text)") }
                        continue
                    }
                    steps.update { $0.append(Int(s)) }
                } catch {
                    failures.update { $0.append("\(error)") }
                }
            }
        }
        #expect(failures.value.isEmpty, "\(failures.value.prefix(5))")
        // Each request got its own step number: 1...total, each exactly once.
        #expect(steps.value.sorted() == Array(1...total))

        let reference = try Self.referenceSession(7, id: id)
        for _ in 0..<total {
            _ = try reference.step(grads: ["w": g[0..<12].map(Double.init), "b": g[12...].map(Double.init)], loss: 1)
        }
        let (step, bits) = try Self.paramBits(client, id: id)
        #expect(step == total)
        #expect(bits == (try Self.referenceBits(reference)), "parameters differ from \(total) in-process steps")

        // A retry of an already applied request (same key) applies nothing and answers as before.
        let replay = try Self.post(client, id: id, g, loss: 1, binary: false, headers: [("Idempotency-Key", "c0-n0")])
        #expect(replay.status == 200)
        #expect(try replay.json()["replayed"] == .bool(true))
        #expect(try Self.paramBits(client, id: id).step == total)
    }
}

// MARK: - helpers

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A value behind a lock, shared by test threads.
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value { lock.withLock { stored } }
    @discardableResult
    func update<R>(_ body: (inout Value) throws -> R) rethrows -> R { try lock.withLock { try body(&stored) } }
}

/// Runs `body(i)` on `count` dedicated threads (not a pool capped at the core count) and waits.
func runThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let done = DispatchSemaphore(value: 0)
    let start = DispatchSemaphore(value: 0)
    for i in 0..<count {
        let t = Thread {
            start.wait()
            body(i)
            done.signal()
        }
        t.stackSize = 1 << 20
        t.start()
    }
    for _ in 0..<count { start.signal() }
    for _ in 0..<count { done.wait() }
}


