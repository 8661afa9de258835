import Foundation
import StepJSON
import StepKernels
import Testing
@testable import StepCore

/// A model split over sessions on several servers, stepped in two phases, against one session
/// holding it all.
@Suite struct TwoPhaseStepTests {
    static func body(_ params: String, clip: Double = 0.5) -> String {
        #"{"optimizer": {"type": "adamw", "lr": 0.01, "weight_decay": 0.1}, "clip": {"max_norm": \#(clip)}, "params": [\#(params)]}"#
    }
    static let a = #"{"name": "a", "shape": [70000], "init": {"type": "normal", "std": 0.1, "seed": 1}}"#
    static let b = #"{"name": "b", "shape": [300], "init": {"type": "normal", "std": 0.1, "seed": 2}}"#
    static let c = #"{"name": "c", "shape": [66000], "init": {"type": "normal", "std": 0.1, "seed": 3}}"#

    static func grads(_ k: Int) -> [String: [Double]] {
        ["a": (0..<70000).map { Double(Float(sin(Double($0 + k)) * 2)) },
         "b": (0..<300).map { Double(Float(cos(Double($0 * 3 + k)))) },
         "c": (0..<66000).map { Double(Float(sin(Double($0 * 7 + k)) * 0.5)) }]
    }

    static func upload(_ s: Session, _ g: [String: [Double]]) throws -> GradientUpload {
        let u = try s.beginUpload()
        for t in s.layout.tensors { try u.set(t.name, values: g[t.name]!, field: t.name) }
        return u
    }

    @Test("shards stepped in two phases with the global norm equal one session, bit for bit")
    func twoPhaseEqualsOneSession() throws {
        let whole = try Fixture.session(Self.body("\(Self.a), \(Self.b), \(Self.c)"), threads: 3)
        let left = try Fixture.session(Self.body("\(Self.a), \(Self.b)"), threads: 2)
        let right = try Fixture.session(Self.body(Self.c))
        for k in 0..<3 {
            let g = Self.grads(k)
            let want = try whole.step(grads: g)
            let p1 = try left.prepare(try Self.upload(left, ["a": g["a"]!, "b": g["b"]!]))
            let p2 = try right.prepare(try Self.upload(right, ["c": g["c"]!]))
            let norm = GradientNorm.total((p1.tensorSums + p2.tensorSums).map(\.sum)).squareRoot()
            let got = try left.commit(norm: norm)
            _ = try right.commit(norm: norm)
            #expect(got.record?.gradNorm?.bitPattern == want.record?.gradNorm?.bitPattern)
            #expect(got.record?.clipped == true)
        }
        let w = try whole.paramsByName(), l = try left.paramsByName(), r = try right.paramsByName()
        #expect(w["a"]!.map(\.bitPattern) == l["a"]!.map(\.bitPattern))
        #expect(w["b"]!.map(\.bitPattern) == l["b"]!.map(\.bitPattern))
        #expect(w["c"]!.map(\.bitPattern) == r["c"]!.map(\.bitPattern))
    }

    @Test("a raw body over several tensors, in any pieces, gives the norm of named tensors")
    func rawBodyAcrossTensorsHasTheNamedNorm() throws {
        let body = Self.body("\(Self.a), \(Self.b), \(Self.c)")
        let g = Self.grads(4)
        let named = try Fixture.session(body, threads: 2)
        let want = try named.step(grads: g)
        let bytes = ["a", "b", "c"].flatMap { g[$0]!.flatMap { v in withUnsafeBytes(of: Float(v).bitPattern.littleEndian, Array.init) } }
        for piece in [4093, 65_536 * 4 + 3, bytes.count] {
            let s = try Fixture.session(body, threads: 3)
            let u = try s.beginUpload(dtype: .f32)
            try RawUploadTests.write(bytes, chunk: piece, to: u)
            #expect(u.sumOfSquares != nil, "the norm was taken as the body arrived")
            let got = try s.submit(u)
            #expect(got.record?.gradNorm?.bitPattern == want.record?.gradNorm?.bitPattern, "pieces of \(piece)")
            #expect(SessionFingerprint(s) == SessionFingerprint(named), "pieces of \(piece)")
        }
    }

    @Test("a prepared step refuses other steps, and an expired or aborted one commits nothing")
    func preparedStepLifecycle() throws {
        let s = try Fixture.session(Self.body(Self.b))
        let g = ["b": Self.grads(0)["b"]!]
        let before = SessionFingerprint(s)
        let p = try s.prepare(try Self.upload(s, g), idempotencyKey: "k1")
        #expect(p.step == 0 && p.finite)
        guard case .conflict? = sessionError({ _ = try s.step(grads: g) }) else { Issue.record("a step while prepared"); return }
        // A retried prepare (same key) gets the same answer; another is refused.
        #expect(try s.prepare(try Self.upload(s, g), idempotencyKey: "k1").tensorSums.map(\.sum) == p.tensorSums.map(\.sum))
        guard case .conflict? = sessionError({ _ = try s.prepare(try Self.upload(s, g)) }) else { Issue.record("a second prepare"); return }
        #expect(s.abortPrepared())
        #expect(!s.abortPrepared())
        #expect(SessionFingerprint(s) == before)
        _ = try s.prepare(try Self.upload(s, g), ttl: 0)
        guard case .conflict? = sessionError({ _ = try s.commit(norm: 1) }) else { Issue.record("commit after expiry"); return }
        #expect(SessionFingerprint(s) == before)
        // The buffer came back: a plain step runs.
        #expect(try s.step(grads: g).step == 1)
    }

    @Test("a session let go with a step still prepared is freed, and retiring it gives the buffer back")
    func aPreparedStepHoldsNoCycle() throws {
        weak var gone: Session?
        do {
            let s = try Fixture.session(Self.body(Self.b))
            _ = try s.prepare(try Self.upload(s, ["b": Self.grads(0)["b"]!]))
            gone = s
        }
        #expect(gone == nil)
        let s = try Fixture.session(Self.body(Self.b))
        _ = try s.prepare(try Self.upload(s, ["b": Self.grads(0)["b"]!]))
        s.retire()
        #expect(!s.abortPrepared())
    }

    @Test("a non-finite part is committed as a skip, as one session skips it")
    func nonFiniteIsSkipped() throws {
        let s = try Fixture.session(Self.body(Self.b))
        var g = Self.grads(0)["b"]!
        g[3] = .nan
        let p = try s.prepare(try Self.upload(s, ["b": g]))
        #expect(!p.finite)
        guard case .invalid(let field, _)? = sessionError({ _ = try s.commit(norm: 1) }) else { Issue.record("a norm for a NaN part"); return }
        #expect(field == "norm")
        let o = try s.commit(norm: nil)
        #expect(o.record?.skipped == true && o.step == 0)
    }

    @Test("a gradient more steps behind than max_staleness is refused, and the staleness recorded")
    func staleGradientsAreRefused() throws {
        let s = try Fixture.session(#"{"optimizer": {"type": "sgd", "lr": 0.1}, "max_staleness": 1, "params": [{"name": "w", "shape": [2]}]}"#)
        let g = ["w": [1.0, 1.0]]
        #expect(try s.step(grads: g, basedOn: 0).record?.staleness == 0)
        #expect(try s.step(grads: g, basedOn: 0).record?.staleness == 1)
        let before = SessionFingerprint(s)
        #expect(sessionError({ _ = try s.step(grads: g, basedOn: 0) }) == .tooStale(basedOn: 0, current: 2, maxStaleness: 1))
        guard case .invalid(let field, _)? = sessionError({ _ = try s.step(grads: g, basedOn: 3) }) else { Issue.record("a future based_on"); return }
        #expect(field == "based_on")
        #expect(SessionFingerprint(s) == before)
        _ = try s.patch(try Fixture.json(#"{"max_staleness": null}"#))
        #expect(try s.step(grads: g, basedOn: 0).record?.staleness == 2)
        #expect(s.historyRecords().map(\.staleness) == [0, 1, 2])
        guard case .invalid(let bad, _)? = sessionError({ _ = try s.patch(try Fixture.json(#"{"max_staleness": -1}"#)) }) else {
            Issue.record("a negative max_staleness"); return
        }
        #expect(bad == "max_staleness")
        // It is part of the config a capture carries.
        let restored = try Session(restoring: s.capture())
        #expect(restored.config.maxStaleness == nil && restored.historyRecords().map(\.staleness) == [0, 1, 2])
        _ = try s.patch(try Fixture.json(#"{"max_staleness": 4}"#))
        #expect(try Session(restoring: s.capture()).config.maxStaleness == 4)
    }
}
