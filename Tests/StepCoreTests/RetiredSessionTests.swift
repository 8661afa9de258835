import StepJSON
import Testing
@testable import StepCore

/// A retired session (deleted, or replaced by a checkpoint) refuses every change and every
/// snapshot copy, so requests that were in flight when it left cannot act on it.
@Suite struct RetiredSessionTests {
    @Test func aRetiredSessionRefusesStepsParamsAndPatchesAndChangesNothing() throws {
        let s = try Fixture.session(Fixture.adamw())
        _ = try s.step(grads: Fixture.grads(0))
        let upload = try s.beginUpload()
        for (name, values) in Fixture.grads(1) { try upload.set(name, values: values, field: name) }
        s.retire()
        let before = s.capture()

        #expect(throws: SessionError.retired(id: "s")) { try s.submit(upload) }
        #expect(throws: SessionError.retired(id: "s")) { try s.replaceParams(s.beginParamsUpload()) }
        #expect(throws: SessionError.retired(id: "s")) { try s.patch(["optimizer": ["lr": 0.5]]) }
        #expect(s.step == 1)
        #expect(s.capture().state.params.array == before.state.params.array)
        #expect(s.config.optimizer.hyper.lr == 0.01)
    }

    @Test func aRetiredSessionYieldsNoSnapshotCopy() throws {
        let s = try Fixture.session(Fixture.adamw())
        #expect(s.captureIfLive() != nil)
        s.retire()
        #expect(s.captureIfLive() == nil)
        #expect(s.isRetired)
    }
}
