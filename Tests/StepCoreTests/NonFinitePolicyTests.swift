import StepJSON
import Testing
@testable import StepCore

@Suite struct NonFinitePolicyTests {
    static func poisoned(_ value: Double, at index: Int = 4) -> [String: [Double]] {
        var g = Fixture.grads(1)
        g["w"]![index] = value
        return g
    }

    @Test("skip: params, optimizer state and step stay; the skip is recorded", arguments: [Double.nan, .infinity, -.infinity])
    func skipLeavesEverythingAndRecords(bad: Double) throws {
        let s = try Fixture.session(Fixture.adamw(optimizer: #"{"type": "adamw", "lr": 0.01, "amsgrad": true}"#))
        _ = try s.step(grads: Fixture.grads(0))
        let before = SessionFingerprint(s)
        let o = try s.step(grads: Self.poisoned(bad), loss: 2.5)
        #expect(o.step == 1)
        let r = try #require(o.record)
        #expect(r.skipped && r.gradNorm == nil && r.step == 1 && r.loss == 2.5 && r.updateNorm == 0)
        let after = SessionFingerprint(s)
        #expect(after.step == before.step && after.params == before.params && after.state == before.state)
        #expect(after.historyCount == before.historyCount + 1)
        #expect(s.historyRecords().last?.skipped == true)
        #expect(s.health().status == .nonfinite)
        // The next finite step is step 2 and equals a twin that never saw the bad gradient.
        let twin = try Fixture.session(Fixture.adamw(optimizer: #"{"type": "adamw", "lr": 0.01, "amsgrad": true}"#))
        _ = try twin.step(grads: Fixture.grads(0))
        #expect(try s.step(grads: Fixture.grads(2)).step == 2)
        _ = try twin.step(grads: Fixture.grads(2))
        #expect(SessionFingerprint(s).params == SessionFingerprint(twin).params)
        #expect(SessionFingerprint(s).state == SessionFingerprint(twin).state)
    }

    @Test("a NaN in the last element of the last tensor is caught too")
    func lastElementChecked() throws {
        let s = try Fixture.session(Fixture.adamw())
        var g = Fixture.grads(0)
        g["b"]![3] = .nan
        #expect(try s.step(grads: g).record?.skipped == true)
        #expect(s.step == 0)
    }

    @Test("error: throws .nonFinite and changes nothing, not even the history", arguments: [Double.nan, .infinity])
    func errorThrowsAndChangesNothing(bad: Double) throws {
        let s = try Fixture.session(Fixture.adamw(extra: #", "nonfinite": "error""#))
        _ = try s.step(grads: Fixture.grads(0))
        let before = SessionFingerprint(s)
        let version = s.version
        let e = sessionError { _ = try s.step(grads: Self.poisoned(bad)) }
        guard case .nonFinite(let detail)? = e else {
            Issue.record("expected .nonFinite, got \(String(describing: e))")
            return
        }
        #expect(detail.contains("NaN or Inf"))
        #expect(SessionFingerprint(s) == before)
        #expect(s.version == version)
    }

    @Test("huge but finite gradients are applied (and clipped), not skipped")
    func hugeFiniteGradientsApply() throws {
        let s = try Fixture.session(Fixture.adamw(extra: #", "clip": {"max_norm": 1}"#))
        let o = try s.step(grads: Self.poisoned(3e38))
        #expect(o.step == 1 && o.record?.skipped == false && o.record?.clipped == true)
        #expect(try s.paramsByName().values.allSatisfy { $0.allSatisfy { $0.isFinite } })
    }
}
