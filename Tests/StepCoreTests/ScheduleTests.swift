import Foundation
import StepJSON
import Testing
@testable import StepCore

/// Every schedule's factor at the boundaries, against the formulas in conformance/README.md.
/// The expected values are computed here from the README formula; they agree with the
/// implementation to 1e-12, which any equivalent rearrangement meets and any off-by-one
/// (e.g. measuring progress from t+1) misses by orders of magnitude.
@Suite struct ScheduleTests {
    static func schedule(_ text: String) throws -> any LearningRateSchedule {
        try LearningRateSchedules.parse(Fixture.json(text), path: "schedule")
    }

    static func expectFactors(_ s: any LearningRateSchedule, _ want: [(t: Int, factor: Double)],
                              sourceLocation: SourceLocation = #_sourceLocation) {
        for (t, f) in want {
            let got = s.factor(t)
            #expect(abs(got - f) <= 1e-12, "factor(\(t)) = \(got), expected \(f)", sourceLocation: sourceLocation)
        }
    }

    @Test("constant is 1 everywhere, and an absent schedule is constant")
    func constant() throws {
        let s = try Self.schedule(#"{"type": "constant"}"#)
        Self.expectFactors(s, [(0, 1), (1, 1), (1000, 1), (1 << 40, 1)])
        let absent = try LearningRateSchedules.parse(nil, path: "schedule")
        #expect(type(of: absent).type == "constant")
    }

    @Test("constant_with_warmup: t/w while t < w, then 1")
    func constantWithWarmup() throws {
        let s = try Self.schedule(#"{"type": "constant_with_warmup", "warmup_steps": 4}"#)
        Self.expectFactors(s, [(0, 0), (1, 0.25), (3, 0.75), (4, 1), (5, 1), (1_000_000, 1)])
        let none = try Self.schedule(#"{"type": "constant_with_warmup", "warmup_steps": 0}"#)
        Self.expectFactors(none, [(0, 1), (1, 1)])
    }

    static func cosine(_ t: Int, w: Int, T: Int, m: Double) -> Double {
        if t < w { return Double(t) / Double(w) }
        let p = min(1, Double(t - w) / Double(max(1, T - w)))
        return m + (1 - m) * 0.5 * (1 + cos(Double.pi * p))
    }

    static func linear(_ t: Int, w: Int, T: Int, m: Double) -> Double {
        if t < w { return Double(t) / Double(w) }
        let p = min(1, Double(t - w) / Double(max(1, T - w)))
        return m + (1 - m) * (1 - p)
    }

    @Test("warmup_cosine at step 0, around the end of warmup, at and past total_steps")
    func warmupCosine() throws {
        let s = try Self.schedule(#"{"type": "warmup_cosine", "warmup_steps": 5, "total_steps": 20, "min_lr_ratio": 0.1}"#)
        let ts = [0, 1, 4, 5, 6, 12, 19, 20, 21, 1000]
        Self.expectFactors(s, ts.map { ($0, Self.cosine($0, w: 5, T: 20, m: 0.1)) })
        // The landmarks, written out: warmup starts at 0, peaks at 1, ends at m and stays there.
        Self.expectFactors(s, [(0, 0), (4, 0.8), (5, 1), (20, 0.1), (21, 0.1), (1000, 0.1)])
        Self.expectFactors(s, [(6, 0.1 + 0.9 * 0.5 * (1 + cos(Double.pi / 15)))])
    }

    @Test("warmup_cosine without warmup starts at 1; with total = warmup it peaks at w and drops to min at w+1")
    func warmupCosineDegenerate() throws {
        let noWarmup = try Self.schedule(#"{"type": "warmup_cosine", "total_steps": 10}"#)
        Self.expectFactors(noWarmup, [(0, 1), (5, 0.5), (10, 0), (11, 0)])
        let allWarmup = try Self.schedule(#"{"type": "warmup_cosine", "warmup_steps": 10, "total_steps": 10, "min_lr_ratio": 0.2}"#)
        // p = min(1, (t-w)/max(1, T-w)) is 0 at t = w and 1 from t = w+1 on.
        Self.expectFactors(allWarmup, [(9, 0.9), (10, 1), (11, 0.2), (12, 0.2)])
    }

    @Test("warmup_linear at step 0, around the end of warmup, at and past total_steps")
    func warmupLinear() throws {
        let s = try Self.schedule(#"{"type": "warmup_linear", "warmup_steps": 3, "total_steps": 13, "min_lr_ratio": 0.25}"#)
        let ts = [0, 1, 2, 3, 4, 8, 12, 13, 14, 500]
        Self.expectFactors(s, ts.map { ($0, Self.linear($0, w: 3, T: 13, m: 0.25)) })
        Self.expectFactors(s, [(0, 0), (2, 2.0 / 3), (3, 1), (4, 0.925), (8, 0.625), (13, 0.25), (14, 0.25)])
    }

    @Test("step: gamma ^ floor(t / step_size)")
    func stepDecay() throws {
        let s = try Self.schedule(#"{"type": "step", "step_size": 3, "gamma": 0.5}"#)
        Self.expectFactors(s, [(0, 1), (2, 1), (3, 0.5), (5, 0.5), (6, 0.25), (9, 0.125), (30, pow(0.5, 10))])
    }

    @Test("exponential: gamma ^ t")
    func exponential() throws {
        let s = try Self.schedule(#"{"type": "exponential", "gamma": 0.9}"#)
        Self.expectFactors(s, [(0, 1), (1, 0.9), (2, 0.81), (10, pow(0.9, 10)), (100, pow(0.9, 100))])
    }

    @Test("inverse_sqrt: t/w while t < w, then sqrt(w/t)")
    func inverseSqrt() throws {
        let s = try Self.schedule(#"{"type": "inverse_sqrt", "warmup_steps": 4}"#)
        Self.expectFactors(s, [(0, 0), (1, 0.25), (3, 0.75), (4, 1), (5, (4.0 / 5).squareRoot()), (16, 0.5), (400, 0.1)])
    }

    @Test("every schedule type parses and writes itself back")
    func everyTypeRoundTrips() throws {
        let bodies = [
            #"{"type": "constant"}"#,
            #"{"type": "constant_with_warmup", "warmup_steps": 2}"#,
            #"{"type": "warmup_cosine", "warmup_steps": 2, "total_steps": 9, "min_lr_ratio": 0.1}"#,
            #"{"type": "warmup_linear", "warmup_steps": 2, "total_steps": 9, "min_lr_ratio": 0.1}"#,
            #"{"type": "step", "step_size": 2, "gamma": 0.3}"#,
            #"{"type": "exponential", "gamma": 0.99}"#,
            #"{"type": "inverse_sqrt", "warmup_steps": 3}"#,
        ]
        var seen: [String] = []
        for b in bodies {
            let s = try Self.schedule(b)
            let again = try LearningRateSchedules.parse(LearningRateSchedules.json(s), path: "schedule")
            for t in [0, 1, 2, 3, 8, 9, 10, 50] { #expect(again.factor(t) == s.factor(t), "\(b) at \(t)") }
            seen.append(type(of: s).type)
        }
        #expect(Set(seen) == Set(LearningRateSchedules.types))
    }

    @Test("step k of a session uses lr × factor(k-1): the first warmup step has lr 0")
    func sessionUsesFactorOfPreviousStepIndex() throws {
        let s = try Fixture.session(Fixture.adamw(extra: #", "schedule": {"type": "warmup_linear", "warmup_steps": 2, "total_steps": 4}"#))
        let lrs = try (0..<6).map { k in try #require(s.step(grads: Fixture.grads(k)).record).lr }
        let want = [0, 0.005, 0.01, 0.005, 0, 0]
        for (got, w) in zip(lrs, want) { #expect(abs(got - w) <= 1e-15, "\(lrs)") }
        #expect(s.schedulePreview(2).map { $0[0] } == [0, 0])
    }

    @Test("schedulePreview lists the next learning rates per group, starting with the next step's")
    func schedulePreviewStartsAtNextStep() throws {
        let s = try Fixture.session(Fixture.adamw(extra: #", "schedule": {"type": "step", "step_size": 1, "gamma": 0.5}"#,
                                                  bGroup: "fast", groups: #"[{"name": "fast", "lr": 0.1}]"#))
        _ = try s.step(grads: Fixture.grads(0))
        let preview = s.schedulePreview(3)
        #expect(preview.count == 3)
        for (k, row) in preview.enumerated() {
            let f = pow(0.5, Double(k + 1))
            #expect(abs(row[0] - 0.01 * f) < 1e-15 && abs(row[1] - 0.1 * f) < 1e-15, "\(preview)")
        }
    }
}
