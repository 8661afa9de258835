import Testing
@testable import StepCore

/// `If-Match` carries the step a client last saw; a step posted against an older one is refused.
@Suite struct IfMatchTests {
    @Test("a stale expected step is refused with both steps named, and nothing changes")
    func staleIsRefused() throws {
        let s = try Fixture.session(Fixture.adamw())
        _ = try s.step(grads: Fixture.grads(0))
        let before = SessionFingerprint(s)
        let e = sessionError { _ = try s.step(grads: Fixture.grads(1), expectedStep: 0) }
        #expect(e == .stale(expected: 0, current: 1))
        #expect(SessionFingerprint(s) == before)
        #expect(e?.description.contains("step 0") == true && e?.description.contains("step 1") == true)
    }

    @Test("the current step is accepted")
    func currentIsAccepted() throws {
        let s = try Fixture.session(Fixture.adamw())
        #expect(try s.step(grads: Fixture.grads(0), expectedStep: 0).step == 1)
        #expect(try s.step(grads: Fixture.grads(1), expectedStep: 1).step == 2)
    }

    @Test("If-Match is checked before the body, so a stale request with a bad body is still stale")
    func staleBeatsInvalid() throws {
        let s = try Fixture.session(Fixture.adamw())
        _ = try s.step(grads: Fixture.grads(0))
        let upload = try s.beginUpload(dtype: .f32)
        let e = sessionError { _ = try s.submit(upload, expectedStep: 0) }
        #expect(e == .stale(expected: 0, current: 1))
    }

    @Test("replaceParams honours If-Match too")
    func replaceParamsStale() throws {
        let s = try Fixture.session(Fixture.adamw())
        _ = try s.step(grads: Fixture.grads(0))
        let before = SessionFingerprint(s)
        let u = try s.beginParamsUpload()
        try u.set("b", values: [9, 9, 9, 9], field: "params.b")
        #expect(sessionError { _ = try s.replaceParams(u, expectedStep: 0) } == .stale(expected: 0, current: 1))
        #expect(SessionFingerprint(s) == before)
    }
}
