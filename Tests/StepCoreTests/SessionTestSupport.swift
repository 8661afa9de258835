import Foundation
import StepJSON
import StepKernels
import Testing
@testable import StepCore

/// Builds sessions from JSON written the way a client would send it.
enum Fixture {
    static func json(_ text: String) throws -> JSONValue { try JSONParser.parse(text) }

    static func config(_ text: String) throws -> (SessionConfig, [ParamInit]) {
        try SessionConfig.parse(json(text))
    }

    static func session(_ text: String, threads: Int = 1, id: String = "s") throws -> Session {
        let (config, inits) = try config(text)
        return Session(id: id, config: config, inits: inits, parallel: Parallel(threads: threads, minimumPerThread: 16))
    }

    /// A small AdamW session: `w` (3×3) and `b` (4) in the optional group.
    static func adamw(optimizer: String = #"{"type": "adamw", "lr": 0.01, "weight_decay": 0.1}"#,
                      extra: String = "", bGroup: String? = nil, groups: String = "[]") -> String {
        """
        {"optimizer": \(optimizer),
         "groups": \(groups),
         "params": [{"name": "w", "shape": [3, 3], "values": [0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8, 0.9]},
                    {"name": "b", "shape": [4], "values": [1, -1, 0.5, -0.5]\(bGroup.map { ", \"group\": \"\($0)\"" } ?? "")}]
         \(extra)}
        """
    }

    /// Deterministic gradients for `adamw()`'s tensors, different for each `k`.
    static func grads(_ k: Int) -> [String: [Double]] {
        let w = (0..<9).map { i in Double(Float(sin(Double(i * 7 + k * 13 + 1)) * 0.7)) }
        let b = (0..<4).map { i in Double(Float(cos(Double(i * 5 + k * 11 + 2)) * 0.3)) }
        return ["w": w, "b": b]
    }
}

/// Everything observable about a session's numbers, as bit patterns (so NaN == NaN).
struct SessionFingerprint: Equatable, CustomStringConvertible {
    var step: Int
    var params: [UInt32]
    var state: [String: [UInt32]]
    /// The optimizer's per-group scalars, as bit patterns.
    var scalars: [String: [UInt64]]
    var historyCount: Int

    init(_ s: Session) {
        let image = s.capture()
        step = image.step
        params = image.state.params.array.map(\.bitPattern)
        state = Dictionary(uniqueKeysWithValues: image.state.roles.map { ($0.name, $0.buffer.array.map(\.bitPattern)) })
        scalars = image.state.scalars.mapValues { $0.map(\.bitPattern) }
        historyCount = s.historyRecords().count
    }

    var description: String {
        "step \(step), params \(params.prefix(4).map { Float(bitPattern: $0) })…, history \(historyCount)"
    }
}

extension Session {
    /// Parameters by tensor name.
    func paramsByName() throws -> [String: [Float]] {
        Dictionary(uniqueKeysWithValues: try readParams().tensors.map { ($0.0.name, $0.1) })
    }
}

/// The error `body` throws, if it is a SessionError.
func sessionError(_ body: () throws -> Void) -> SessionError? {
    do {
        try body()
        return nil
    } catch let e as SessionError {
        return e
    } catch {
        Issue.record("expected a SessionError, got \(error)")
        return nil
    }
}

/// Expects `body` to be refused as invalid, naming `field` and mentioning each of `mentions`.
func expectInvalid(field: String, mentioning mentions: [String] = [], sourceLocation: SourceLocation = #_sourceLocation,
                   _ body: () throws -> Void) {
    guard let e = sessionError(body) else {
        Issue.record("expected .invalid(field: \"\(field)\"), nothing was thrown", sourceLocation: sourceLocation)
        return
    }
    guard case .invalid(let f, let detail) = e else {
        Issue.record("expected .invalid(field: \"\(field)\"), got \(e)", sourceLocation: sourceLocation)
        return
    }
    #expect(f == field, "detail: \(detail)", sourceLocation: sourceLocation)
    for m in mentions {
        #expect(detail.contains(m), "detail \"\(detail)\" does not mention \"\(m)\"", sourceLocation: sourceLocation)
    }
}
