import Testing
@testable import StepCore

/// Each rule of HealthVerdict's doc comment, triggered by a constructed history.
@Suite struct HealthVerdictTests {
    static func records(losses: [Double?], norms: [Double]? = nil, skippedAt: Set<Int> = [], lastParamNorm: Double = 1) -> [StepRecord] {
        losses.enumerated().map { i, loss in
            StepRecord(step: i + 1, lr: 0.01, gradNorm: skippedAt.contains(i) ? nil : (norms?[i] ?? 1), clipCoef: 1, clipped: false,
                       skipped: skippedAt.contains(i), loss: loss, updateNorm: 0.01,
                       paramNorm: i == losses.count - 1 ? lastParamNorm : 1, time: Double(i))
        }
    }

    /// A healthy run: loss falling steadily from 2 by 0.5% a step.
    static func falling(_ n: Int) -> [Double?] { (0..<n).map { 2 * pow(0.995, Double($0)) } }

    static func pow(_ x: Double, _ y: Double) -> Double {
        var r = 1.0
        for _ in 0..<Int(y) { r *= x }
        return r
    }

    @Test("ok for a steadily improving run, and for an empty history")
    func ok() {
        let v = HealthVerdict(history: Self.records(losses: Self.falling(250)))
        #expect(v.status == .ok)
        #expect(v.reasons.isEmpty)
        #expect(HealthVerdict(history: []).status == .ok)
    }

    @Test("nonfinite when one of the last 10 requests was skipped, not when it is older")
    func nonfinite() {
        let recent = HealthVerdict(history: Self.records(losses: Self.falling(30), skippedAt: [25]))
        #expect(recent.status == .nonfinite)
        #expect(recent.reasons.count == 1)
        let old = HealthVerdict(history: Self.records(losses: Self.falling(30), skippedAt: [19]))
        #expect(old.status == .ok)
    }

    @Test("diverging when the last 10-step mean loss is over twice the best, or the parameter norm is not finite")
    func diverging() {
        let losses: [Double?] = Array(repeating: 1.0, count: 20) + Array(repeating: 2.5, count: 10)
        #expect(HealthVerdict(history: Self.records(losses: losses)).status == .diverging)
        let exactlyTwice: [Double?] = Array(repeating: 1.0, count: 20) + Array(repeating: 2.0, count: 10)
        #expect(HealthVerdict(history: Self.records(losses: exactlyTwice)).status != .diverging)
        let infNorm = HealthVerdict(history: Self.records(losses: Self.falling(5), lastParamNorm: .infinity))
        #expect(infNorm.status == .diverging)
        let nanNorm = HealthVerdict(history: Self.records(losses: [nil, nil], lastParamNorm: .nan))
        #expect(nanNorm.status == .diverging)
    }

    @Test("loss_spike when the last loss is over 3× the median of the 50 before it")
    func lossSpike() {
        let base: [Double?] = Array(repeating: 1.0, count: 30)
        let spike = HealthVerdict(history: Self.records(losses: base + [3.5]))
        #expect(spike.status == .loss_spike)
        #expect(spike.reasons.first?.contains("3.5") == true)
        #expect(HealthVerdict(history: Self.records(losses: base + [3.0])).status == .ok)
        // Too little history to judge: fewer than 10 losses before the last.
        #expect(HealthVerdict(history: Self.records(losses: Array(repeating: 1.0, count: 9) + [10])).status == .ok)
    }

    @Test("grad_norm_spike when the last gradient norm is over 5× the median of the 50 before it")
    func gradNormSpike() {
        let losses = Self.falling(30)
        let norms = Array(repeating: 2.0, count: 29) + [10.5]
        let v = HealthVerdict(history: Self.records(losses: losses, norms: norms))
        #expect(v.status == .grad_norm_spike)
        let edge = Array(repeating: 2.0, count: 29) + [10.0]
        #expect(HealthVerdict(history: Self.records(losses: losses, norms: edge)).status == .ok)
    }

    @Test("plateau when over the last 200 losses the newer half improved by less than 0.1%")
    func plateau() {
        let flat: [Double?] = (0..<200).map { 1 + 0.0001 * Double($0 % 3) }
        #expect(HealthVerdict(history: Self.records(losses: flat)).status == .plateau)
        #expect(HealthVerdict(history: Self.records(losses: Array(flat.prefix(199)))).status == .ok)
    }

    @Test("the first matching rule wins and reasons list every match")
    func orderAndReasons() {
        // Skipped recently and a loss spike: nonfinite wins, both are listed.
        let losses: [Double?] = Array(repeating: 1.0, count: 30) + [nil, 4.0]
        let v = HealthVerdict(history: Self.records(losses: losses, skippedAt: [30]))
        #expect(v.status == .nonfinite)
        #expect(v.reasons.count == 2)
        #expect(v.json["status"] == "nonfinite")
    }

    @Test("a session's verdict follows its history: a skipped step reads nonfinite")
    func sessionVerdict() throws {
        let s = try Fixture.session(Fixture.adamw())
        _ = try s.step(grads: Fixture.grads(0), loss: 1)
        #expect(s.health().status == .ok)
        var bad = Fixture.grads(1)
        bad["w"]![0] = .nan
        _ = try s.step(grads: bad)
        #expect(s.health().status == .nonfinite)
        #expect(s.summary()["health"]?["status"] == "nonfinite")
    }
}
