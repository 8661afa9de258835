import StepJSON
import StepKernels
import Testing
@testable import StepCore

/// Every buffer a request holds counts against the server's memory limit: the session's own
/// gradient buffer is in its resident bytes, and each extra one (a concurrent upload, a
/// parameter copy for PUT) is drawn from the budget while the request holds it.
@Suite struct UploadBudgetTests {
    /// A 13-value session attached to a budget with room for `extra` more buffers.
    static func session(extra: Int) throws -> (Session, ByteBudget) {
        let s = try Fixture.session(Fixture.adamw())
        let budget = ByteBudget(limit: s.config.residentBytes + extra * 13 * 4)
        budget.forceReserve(s.config.residentBytes)
        s.drawExtraBuffers(from: budget)
        return (s, budget)
    }

    @Test func concurrentUploadsBeyondTheBudgetAreRefusedAndTheirBytesComeBack() throws {
        let (s, budget) = try Self.session(extra: 1)
        let base = budget.inUse
        let own = try s.beginUpload(dtype: .f32)
        var extra: GradientUpload? = try s.beginUpload(dtype: .f32)
        #expect(budget.inUse == base + 13 * 4)
        #expect(throws: SessionError.self) { try s.beginUpload(dtype: .f32) }
        #expect(throws: SessionError.self) { try s.beginParamsUpload() }
        extra = nil
        #expect(budget.inUse == base)
        _ = try s.beginUpload(dtype: .f32)
        withExtendedLifetime((own, extra)) {}
    }

    @Test func theSessionsOwnBufferComesBackFromAStepAndFromAnAbandonedUpload() throws {
        let (s, budget) = try Self.session(extra: 0)
        var abandoned: GradientUpload? = try s.beginUpload()
        #expect(throws: SessionError.self) { try s.beginUpload() }
        abandoned = nil
        let upload = try s.beginUpload()
        for (name, values) in Fixture.grads(0) { try upload.set(name, values: values, field: name) }
        _ = try s.submit(upload)
        // Back at submit, before the upload object is gone: the next step needs no extra buffer.
        _ = try s.beginUpload()
        #expect(budget.inUse == s.config.residentBytes)
        withExtendedLifetime((abandoned, upload)) {}
    }

    @Test func aRefusedBufferIsBusyNotInvalid() throws {
        let (s, _) = try Self.session(extra: 0)
        let held = try s.beginUpload()
        do {
            _ = try s.beginParamsUpload()
            Issue.record("expected .busy")
        } catch {
            guard case .busy(let detail) = error else { Issue.record("expected .busy, got \(error)"); return }
            #expect(detail.contains("--max-param-bytes"))
        }
        withExtendedLifetime(held) {}
    }
}
