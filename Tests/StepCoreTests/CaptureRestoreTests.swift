import StepJSON
import StepKernels
import Testing
@testable import StepCore

/// A captured image restores into a session that continues exactly as if it had never stopped.
@Suite struct CaptureRestoreTests {
    static let configs: [String] = [
        Fixture.adamw(optimizer: #"{"type": "adamw", "lr": 0.01, "amsgrad": true}"#,
                      extra: #", "schedule": {"type": "warmup_cosine", "warmup_steps": 2, "total_steps": 8}, "clip": {"max_norm": 0.5}"#,
                      bGroup: "nd", groups: #"[{"name": "nd", "weight_decay": 0}]"#),
        Fixture.adamw(optimizer: #"{"type": "sgd", "lr": 0.05, "momentum": 0.9, "dampening": 0.1}"#),
        Fixture.adamw(optimizer: #"{"type": "rmsprop", "lr": 0.01, "momentum": 0.5, "centered": true}"#),
        Fixture.adamw(optimizer: #"{"type": "adagrad", "lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1}"#),
        Fixture.adamw(optimizer: #"{"type": "adam", "lr": 0.01, "weight_decay": 0.01}"#,
                      extra: #", "accumulation": {"micro_batches": 2, "workers": 1}"#),
    ]

    @Test("restore after 4 requests, then 4 more: bit-identical to a twin that never stopped", arguments: configs)
    func restoredContinuesLikeTwin(_ body: String) throws {
        let original = try Fixture.session(body, id: "orig")
        let twin = try Fixture.session(body, id: "twin")
        // 4 requests: a step boundary for the accumulating config too (see restoreMidAccumulation).
        for k in 0..<4 {
            _ = try original.step(grads: Fixture.grads(k), loss: Double(k))
            _ = try twin.step(grads: Fixture.grads(k), loss: Double(k))
        }
        let image = original.capture()
        let restored = try Session(restoring: image, parallel: Parallel(threads: 2, minimumPerThread: 16))
        #expect(restored.id == "orig")
        #expect(restored.step == original.step)
        #expect(restored.historyRecords() == original.historyRecords())
        #expect(SessionFingerprint(restored) == SessionFingerprint(twin))
        for k in 4..<8 {
            let a = try restored.step(grads: Fixture.grads(k))
            let b = try twin.step(grads: Fixture.grads(k))
            #expect(a.step == b.step && a.record?.lr == b.record?.lr && a.record?.gradNorm == b.record?.gradNorm)
        }
        #expect(SessionFingerprint(restored) == SessionFingerprint(twin))
        #expect(restored.step == twin.step && restored.step > 0)
    }

    @Test("restoring in the middle of an accumulated step keeps the contributions already acknowledged")
    func restoreMidAccumulation() throws {
        // DESIGN.md: "a restart loses nothing that was acknowledged". A contribution answered with
        // "1 of 2 in" is acknowledged, so a snapshot taken now must carry it.
        let body = Fixture.adamw(extra: #", "accumulation": {"micro_batches": 2, "workers": 1}"#)
        let original = try Fixture.session(body)
        let twin = try Fixture.session(body)
        #expect(try !original.step(grads: Fixture.grads(0)).applied)
        #expect(try !twin.step(grads: Fixture.grads(0)).applied)
        let restored = try Session(restoring: original.capture())
        let a = try restored.step(grads: Fixture.grads(1))
        let b = try twin.step(grads: Fixture.grads(1))
        #expect(b.applied && b.step == 1)
        #expect(a.applied == b.applied && a.step == b.step, "the restored session lost the pending contribution: \(a.accumulated) of \(a.needed) in")
        #expect(SessionFingerprint(restored).params == SessionFingerprint(twin).params)
    }

    @Test("an image is a copy: stepping the session afterwards does not change it")
    func imageIsACopy() throws {
        let s = try Fixture.session(Fixture.adamw())
        _ = try s.step(grads: Fixture.grads(0))
        let image = s.capture()
        let params = image.state.params.array
        _ = try s.step(grads: Fixture.grads(1))
        #expect(image.state.params.array == params)
        #expect(image.step == 1)
        #expect(try s.paramsByName()["w"]! != Array(params.prefix(9)))
    }

    @Test("an image whose buffers do not fit the config is refused")
    func mismatchedImageRefused() throws {
        let s = try Fixture.session(Fixture.adamw())
        var image = s.capture()
        image.state = OptimizerState(params: AlignedBuffer(count: 12), roles: image.state.roles, layout: image.state.layout)
        expectInvalid(field: "params", mentioning: ["12", "13"]) { _ = try Session(restoring: image) }
        var missing = s.capture()
        missing.state = OptimizerState(params: missing.state.params, roles: missing.state.roles.filter { $0.name != "exp_avg_sq" }, layout: missing.state.layout)
        expectInvalid(field: "state", mentioning: ["exp_avg_sq"]) { _ = try Session(restoring: missing) }
    }

    @Test("the config survives the round trip through its JSON form")
    func configRoundTrip() throws {
        let s = try Fixture.session(Self.configs[0])
        let restored = try Session(restoring: s.capture())
        #expect(restored.config.json == s.config.json)
        #expect(restored.layout == s.layout)
    }
}
