import StepJSON
import Testing
@testable import StepCore

@Suite struct AccumulationTests {
    static func accumulating(_ k: Int, _ w: Int, extra: String = "") -> String {
        Fixture.adamw(extra: #", "accumulation": {"micro_batches": \#(k), "workers": \#(w)}\#(extra)"#)
    }

    /// The float32 mean the session forms: contributions summed in arrival order from zero,
    /// then scaled by 1/K.
    static func mean(_ parts: [[String: [Double]]]) -> [String: [Double]] {
        var out: [String: [Double]] = [:]
        for name in parts[0].keys {
            var sum = [Float](repeating: 0, count: parts[0][name]!.count)
            for p in parts { for i in sum.indices { sum[i] = sum[i] + Float(p[name]![i]) } }
            out[name] = sum.map { Double($0 * Float(1.0 / Double(parts.count))) }
        }
        return out
    }

    @Test("2 micro-batches × 2 workers apply on the 4th contribution, equal to one step with the mean", arguments: [false, true])
    func appliesMeanOnLastContribution(clip: Bool) throws {
        let extra = clip ? #", "clip": {"max_norm": 0.05}"# : ""
        let s = try Fixture.session(Self.accumulating(2, 2, extra: extra))
        let twin = try Fixture.session(Fixture.adamw(extra: extra))
        let before = SessionFingerprint(s)
        let order = [Contribution(worker: 1, microBatch: 0), Contribution(worker: 0, microBatch: 1),
                     Contribution(worker: 0, microBatch: 0), Contribution(worker: 1, microBatch: 1)]
        let parts = (0..<4).map { Fixture.grads($0) }
        for k in 0..<3 {
            let o = try s.step(grads: parts[k], contribution: order[k])
            #expect(!o.applied && o.step == 0 && o.accumulated == k + 1 && o.needed == 4)
            #expect(o.record == nil)
            #expect(SessionFingerprint(s).params == before.params && SessionFingerprint(s).state == before.state)
        }
        let last = try s.step(grads: parts[3], contribution: order[3])
        #expect(last.applied && last.step == 1 && last.accumulated == 4)
        let single = try twin.step(grads: Self.mean(parts))
        // Bit for bit: the session sums in arrival order exactly as `mean` does, and 1/4 is a
        // power of two, so sum × (0.25 × clip coefficient) rounds to the same float as
        // (sum × 0.25) × clip coefficient; the norm is sqrt(S)·0.25 = sqrt(S/16) exactly in float64.
        #expect(SessionFingerprint(s).params == SessionFingerprint(twin).params)
        #expect(SessionFingerprint(s).state == SessionFingerprint(twin).state)
        #expect(last.record?.gradNorm == single.record?.gradNorm)
        #expect(last.record?.clipCoef == single.record?.clipCoef)
        #expect(last.record?.clipped == clip)
        // The next step starts a fresh accumulation.
        let next = try s.step(grads: parts[0], contribution: order[0])
        #expect(!next.applied && next.accumulated == 1 && next.step == 1)
    }

    @Test("a duplicate contribution is a conflict and is not counted")
    func duplicateIsConflict() throws {
        let s = try Fixture.session(Self.accumulating(2, 2))
        let c = Contribution(worker: 1, microBatch: 1)
        _ = try s.step(grads: Fixture.grads(0), contribution: c)
        let before = SessionFingerprint(s)
        let e = sessionError { _ = try s.step(grads: Fixture.grads(1), contribution: c) }
        guard case .conflict(let detail)? = e else {
            Issue.record("expected .conflict, got \(String(describing: e))")
            return
        }
        #expect(detail.contains("worker 1") && detail.contains("micro_batch 1"))
        #expect(SessionFingerprint(s) == before)
        // Still 1 of 4 in: three more distinct contributions complete the step.
        let twin = try Fixture.session(Fixture.adamw())
        var last: StepOutcome?
        for c in [Contribution(worker: 0, microBatch: 0), Contribution(worker: 0, microBatch: 1), Contribution(worker: 1, microBatch: 0)] {
            last = try s.step(grads: Fixture.grads(c.worker * 2 + c.microBatch + 1), contribution: c)
        }
        #expect(last?.applied == true)
        _ = try twin.step(grads: Self.mean([0, 1, 2, 3].map { Fixture.grads($0) }))
        #expect(SessionFingerprint(s).params == SessionFingerprint(twin).params)
    }

    @Test("a worker or micro_batch out of range is invalid and changes nothing")
    func outOfRangeIsInvalid() throws {
        let s = try Fixture.session(Self.accumulating(2, 2))
        _ = try s.step(grads: Fixture.grads(0), contribution: Contribution(worker: 0, microBatch: 0))
        let before = SessionFingerprint(s)
        expectInvalid(field: "worker", mentioning: ["2"]) {
            _ = try s.step(grads: Fixture.grads(1), contribution: Contribution(worker: 2, microBatch: 0))
        }
        expectInvalid(field: "worker", mentioning: ["-1"]) {
            _ = try s.step(grads: Fixture.grads(1), contribution: Contribution(worker: -1, microBatch: 0))
        }
        expectInvalid(field: "micro_batch", mentioning: ["5"]) {
            _ = try s.step(grads: Fixture.grads(1), contribution: Contribution(worker: 0, microBatch: 5))
        }
        expectInvalid(field: "worker", mentioning: ["required"]) { _ = try s.step(grads: Fixture.grads(1)) }
        #expect(SessionFingerprint(s) == before)
        #expect(s.summary()["accumulated"] == .number(1))
    }

    @Test("untagged contributions with one worker are numbered automatically")
    func untaggedAutoNumbered() throws {
        let s = try Fixture.session(Self.accumulating(3, 1))
        let o1 = try s.step(grads: Fixture.grads(0))
        // A tagged micro-batch 1 in between: the next untagged one takes the free slot, 2.
        let o2 = try s.step(grads: Fixture.grads(1), contribution: Contribution(worker: 0, microBatch: 1))
        let o3 = try s.step(grads: Fixture.grads(2))
        #expect(!o1.applied && o1.accumulated == 1)
        #expect(!o2.applied && o2.accumulated == 2)
        #expect(o3.applied && o3.step == 1)
        // Another full round of untagged posts makes step 2.
        for k in 0..<2 { #expect(try !s.step(grads: Fixture.grads(k)).applied) }
        #expect(try s.step(grads: Fixture.grads(2)).step == 2)
    }

    @Test("a session that does not accumulate refuses a micro_batch other than 0")
    func nonAccumulatingRefusesTags() throws {
        let s = try Fixture.session(Fixture.adamw())
        expectInvalid(field: "micro_batch") { _ = try s.step(grads: Fixture.grads(0), contribution: Contribution(worker: 0, microBatch: 1)) }
        #expect(try s.step(grads: Fixture.grads(0), contribution: Contribution(worker: 0, microBatch: 0)).step == 1)
    }

    @Test("a non-finite contribution makes the accumulated step skip under the default policy, then accumulation restarts")
    func nonFiniteContributionSkipsStep() throws {
        let s = try Fixture.session(Self.accumulating(2, 1))
        let before = SessionFingerprint(s)
        var bad = Fixture.grads(1)
        bad["w"]![4] = .nan
        #expect(try !s.step(grads: Fixture.grads(0)).applied)
        let o = try s.step(grads: bad)
        #expect(o.record?.skipped == true && o.step == 0)
        #expect(SessionFingerprint(s).params == before.params && SessionFingerprint(s).state == before.state)
        #expect(try !s.step(grads: Fixture.grads(2)).applied)
        #expect(try s.step(grads: Fixture.grads(3)).step == 1)
    }

    @Test("a non-finite contribution under nonfinite: error is refused and not counted")
    func nonFiniteContributionErrors() throws {
        let s = try Fixture.session(Self.accumulating(2, 1, extra: #", "nonfinite": "error""#))
        _ = try s.step(grads: Fixture.grads(0))
        let before = SessionFingerprint(s)
        var bad = Fixture.grads(1)
        bad["b"]![0] = -.infinity
        let e = sessionError { _ = try s.step(grads: bad) }
        guard case .nonFinite? = e else {
            Issue.record("expected .nonFinite, got \(String(describing: e))")
            return
        }
        #expect(SessionFingerprint(s) == before)
        #expect(s.summary()["accumulated"] == .number(1))
        #expect(try s.step(grads: Fixture.grads(1)).applied)
    }
}
