import StepJSON
import Testing
@testable import StepCore

/// PATCH is a JSON merge patch over the config, re-validated whole; what would orphan the
/// optimizer state (type, params, accumulation) is fixed for the session's life.
@Suite struct PatchTests {
    static func sgd(extra: String = "") -> String {
        #"{"optimizer": {"type": "sgd", "lr": 0.1}, "groups": [{"name": "slow", "lr": 0.001}], "params": [{"name": "w", "shape": [2], "values": [1, 2]}, {"name": "b", "shape": [1], "values": [3], "group": "slow"}]\#(extra)}"#
    }

    @Test("an lr change takes effect on the next step; a group's own lr override is kept")
    func lrChangeAppliesNextStep() throws {
        let s = try Fixture.session(Self.sgd())
        let g: [String: [Double]] = ["w": [1, -1], "b": [1]]
        let o1 = try s.step(grads: g)
        #expect(o1.groupLRs.map(\.lr) == [0.1, 0.001])
        let next = try s.patch(Fixture.json(#"{"optimizer": {"lr": 0.01}}"#))
        #expect(next.optimizer.hyper.lr == 0.01)
        #expect(s.config.optimizer.hyper.lr == 0.01)
        let o2 = try s.step(grads: g)
        #expect(o2.record?.lr == 0.01)
        #expect(o2.groupLRs.map(\.lr) == [0.01, 0.001])
        let p = try s.paramsByName()
        #expect(p["w"] == [Float(1) + Float(-0.1) * 1 + Float(-0.01) * 1, Float(2) + Float(-0.1) * -1 + Float(-0.01) * -1])
    }

    @Test("changing optimizer.type is refused")
    func typeChangeRefused() throws {
        let s = try Fixture.session(Self.sgd())
        expectInvalid(field: "optimizer.type", mentioning: [#""sgd""#]) { _ = try s.patch(Fixture.json(#"{"optimizer": {"type": "adamw"}}"#)) }
        #expect(s.config.optimizer.type == "sgd")
        // Restating the same type is fine.
        #expect(try s.patch(Fixture.json(#"{"optimizer": {"type": "sgd", "lr": 0.2}}"#)).optimizer.hyper.lr == 0.2)
    }

    struct RefusedPatch: Sendable, CustomTestStringConvertible {
        var patch: String, field: String, detail: String
        var testDescription: String { patch }
    }

    @Test("params and accumulation cannot be patched; unknown keys are refused", arguments: [
        RefusedPatch(patch: #"{"params": [{"name": "w", "shape": [3]}]}"#, field: "params", detail: "cannot be changed"),
        RefusedPatch(patch: #"{"accumulation": {"micro_batches": 2}}"#, field: "accumulation", detail: "cannot be changed"),
        RefusedPatch(patch: #"{"learning_rate": 0.1}"#, field: "learning_rate", detail: "unknown field"),
    ])
    func fixedAndUnknownKeysRefused(_ c: RefusedPatch) throws {
        let (patch, field, detail) = (c.patch, c.field, c.detail)
        let s = try Fixture.session(Self.sgd())
        let before = s.config.json
        let version = s.version
        expectInvalid(field: field, mentioning: [detail]) { _ = try s.patch(Fixture.json(patch)) }
        #expect(s.config.json == before)
        #expect(s.version == version)
    }

    @Test("an unknown or invalid field inside a section is refused with its path and nothing changes")
    func nestedInvalidRefused() throws {
        let s = try Fixture.session(Self.sgd())
        let before = s.config.json
        expectInvalid(field: "optimizer.lrr", mentioning: [#"did you mean "lr""#]) { _ = try s.patch(Fixture.json(#"{"optimizer": {"lrr": 1}}"#)) }
        expectInvalid(field: "optimizer.lr") { _ = try s.patch(Fixture.json(#"{"optimizer": {"lr": -1}}"#)) }
        expectInvalid(field: "") { _ = try s.patch(Fixture.json("[1]")) }
        #expect(s.config.json == before)
    }

    @Test("enabling momentum on a session created without it is refused (it has no momentum buffer)")
    func newStateRoleRefused() throws {
        let s = try Fixture.session(Self.sgd())
        expectInvalid(field: "optimizer", mentioning: ["momentum_buffer"]) { _ = try s.patch(Fixture.json(#"{"optimizer": {"momentum": 0.9}}"#)) }
        #expect((s.config.optimizer.hyper as? SGDOptimizer.Hyperparameters)?.momentum == 0)
    }

    @Test("a schedule can be replaced by another type, or one field changed keeping the type")
    func schedulePatches() throws {
        let s = try Fixture.session(Self.sgd(extra: #", "schedule": {"type": "warmup_cosine", "warmup_steps": 2, "total_steps": 10}"#))
        let a = try s.patch(Fixture.json(#"{"schedule": {"min_lr_ratio": 0.5}}"#))
        #expect(type(of: a.schedule).type == "warmup_cosine")
        #expect(a.schedule.factor(10) == 0.5)
        let b = try s.patch(Fixture.json(#"{"schedule": {"type": "exponential", "gamma": 0.5}}"#))
        #expect(type(of: b.schedule).type == "exponential")
        #expect(s.schedulePreview(2).map { $0[0] } == [0.1, 0.05])
    }

    @Test("clip can be added and removed, and history capacity resized keeping the newest records")
    func clipAndHistory() throws {
        let s = try Fixture.session(Self.sgd())
        #expect(try s.patch(Fixture.json(#"{"clip": {"max_norm": 0.5}}"#)).clipMaxNorm == 0.5)
        let o = try s.step(grads: ["w": [3, 4], "b": [0]])
        #expect(o.record?.clipped == true)
        #expect(try s.patch(Fixture.json(#"{"clip": null}"#)).clipMaxNorm == nil)
        for _ in 0..<4 { _ = try s.step(grads: ["w": [0.1, 0.1], "b": [0]]) }
        _ = try s.patch(Fixture.json(#"{"history": {"capacity": 2}}"#))
        #expect(s.historyRecords().map { $0.step } == [4, 5])
    }
}
