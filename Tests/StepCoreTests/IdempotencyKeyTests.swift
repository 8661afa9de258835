import Testing
@testable import StepCore

/// A retried step with the same `Idempotency-Key` returns the first answer and applies nothing.
@Suite struct IdempotencyKeyTests {
    @Test("a retry returns the original outcome marked replayed and applies nothing")
    func retryReplays() throws {
        let s = try Fixture.session(Fixture.adamw())
        let first = try s.step(grads: Fixture.grads(0), loss: 1.5, idempotencyKey: "k-1")
        #expect(!first.replayed)
        let after = SessionFingerprint(s)
        // Even with different gradients (and a body that would otherwise be stale) it is a replay.
        let retry = try s.step(grads: Fixture.grads(7), expectedStep: 0, idempotencyKey: "k-1")
        #expect(retry.replayed)
        var unmarked = retry
        unmarked.replayed = false
        #expect(unmarked == first)
        #expect(SessionFingerprint(s) == after)
        #expect(retry.json["replayed"] == true)
    }

    @Test("a new key applies a new step")
    func newKeyApplies() throws {
        let s = try Fixture.session(Fixture.adamw())
        _ = try s.step(grads: Fixture.grads(0), idempotencyKey: "a")
        let o = try s.step(grads: Fixture.grads(1), idempotencyKey: "b")
        #expect(o.step == 2 && !o.replayed)
    }

    @Test("a refused request is not remembered: the same key can then succeed")
    func refusalIsNotCached() throws {
        let s = try Fixture.session(Fixture.adamw())
        var bad = Fixture.grads(0)
        bad["b"] = [1]
        #expect(sessionError { _ = try s.step(grads: bad, idempotencyKey: "k") } != nil)
        let o = try s.step(grads: Fixture.grads(0), idempotencyKey: "k")
        #expect(o.step == 1 && !o.replayed)
    }

    @Test("an accumulating contribution is replayed too, and not counted twice")
    func contributionReplay() throws {
        let s = try Fixture.session(Fixture.adamw(extra: #", "accumulation": {"micro_batches": 2, "workers": 1}"#))
        let first = try s.step(grads: Fixture.grads(0), idempotencyKey: "c0")
        let again = try s.step(grads: Fixture.grads(0), idempotencyKey: "c0")
        #expect(!first.applied && first.accumulated == 1)
        #expect(again.replayed && again.accumulated == 1)
        #expect(s.summary()["accumulated"] == .number(1))
    }
}
