/// Replays a case through a driver and compares every recorded expectation.
public struct ConformanceResult: Sendable {
    public var name: String
    public var failures: [String]
    public var checks: Int
    public var passed: Bool { failures.isEmpty }
    public var line: String {
        passed ? "PASS \(name) (\(checks) checks)" : "FAIL \(name): \(failures.count) of \(checks) checks failed; first: \(failures[0])"
    }
}

public enum ConformanceRunner {
    /// Relative tolerance for open-loop lr and grad_norm (float64 in the recording).
    public static let scalarRtol = 1e-4

    public static func run<D: ConformanceDriver>(_ c: ConformanceCase, driver: inout D) -> ConformanceResult {
        var result = ConformanceResult(name: c.name, failures: [], checks: 0)
        do {
            try driver.create(session: c)
            if let loop = c.closedLoop {
                try runClosedLoop(c, loop, &driver, &result)
            } else {
                for s in c.steps {
                    guard let grads = s.grads else {
                        result.failures.append("step \(s.index): no grads in an open-loop case")
                        continue
                    }
                    let report = try driver.step(grads: grads)
                    try compare(c, s, report, params: try driver.params(), loss: nil, &result)
                }
            }
            try driver.finish()
        } catch {
            result.failures.append("error: \(error)")
        }
        return result
    }

    private static func runClosedLoop<D: ConformanceDriver>(_ c: ConformanceCase, _ loop: ConformanceCase.ClosedLoop,
                                                            _ driver: inout D, _ result: inout ConformanceResult) throws {
        let expectations = Dictionary(c.steps.map { ($0.expect.step, $0) }, uniquingKeysWith: { a, _ in a })
        var params = try driver.params()
        for _ in 0..<loop.steps {
            var grads: [String: [Double]] = [:]
            for (name, p) in params {
                guard let scale = loop.scale[name], let target = loop.target[name], scale.count == p.count, target.count == p.count else {
                    throw ConformanceError("closed_loop has no scale/target of the right length for \(name)")
                }
                // Float32 arithmetic, as the recording's client computed it.
                grads[name] = (0..<p.count).map { i in Double(Float(scale[i]) * (p[i] - Float(target[i]))) }
            }
            let report = try driver.step(grads: grads)
            params = try driver.params()
            if let s = expectations[report.step] {
                var loss = 0.0
                for (name, p) in params {
                    let scale = loop.scale[name]!, target = loop.target[name]!
                    for i in 0..<p.count {
                        let d = Double(p[i]) - target[i]
                        loss += 0.5 * scale[i] * d * d
                    }
                }
                try compare(c, s, report, params: params, loss: loss, &result)
            }
        }
        let reached = Set(c.steps.map(\.expect.step)).subtracting(0...loop.steps)
        if !reached.isEmpty { result.failures.append("expectations at steps \(reached.sorted()) were never reached") }
    }

    private static func compare(_ c: ConformanceCase, _ s: ConformanceCase.Step, _ r: ConformanceStepReport,
                                params: [String: [Float]], loss: Double?, _ result: inout ConformanceResult) throws {
        let e = s.expect
        let at = "step \(s.index) (expect.step \(e.step))"
        func check(_ ok: Bool, _ message: @autoclosure () -> String) {
            result.checks += 1
            if !ok { result.failures.append("\(at): \(message())") }
        }
        func relative(_ got: Double, _ want: Double, _ rtol: Double) -> Bool { abs(got - want) <= rtol * max(abs(want), 1e-12) }
        check(r.step == e.step, "step is \(r.step), expected \(e.step)")
        check(r.skipped == e.skipped, "skipped is \(r.skipped), expected \(e.skipped)")
        if let lr = e.lr { check(relative(r.lr, lr, scalarRtol) || abs(r.lr - lr) <= 1e-12, "lr is \(r.lr), expected \(lr)") }
        let normRtol = c.closedLoop != nil ? (c.tolerance.lossRtol ?? scalarRtol) : scalarRtol
        if let g = e.gradNorm {
            if let got = r.gradNorm { check(relative(got, g, normRtol), "grad_norm is \(got), expected \(g)") }
            else { check(false, "grad_norm missing, expected \(g)") }
        }
        if let want = e.loss, let loss {
            check(relative(loss, want, c.tolerance.lossRtol ?? scalarRtol), "loss is \(loss), expected \(want)")
        }
        for (name, want) in e.params.sorted(by: { $0.key < $1.key }) {
            guard let got = params[name], got.count == want.count else {
                check(false, "params.\(name): missing or wrong length")
                continue
            }
            var worst: (Int, Double)? = nil
            for i in 0..<want.count where !c.tolerance.accepts(Double(got[i]), want[i]) {
                let err = abs(Double(got[i]) - want[i])
                if err > (worst?.1 ?? -1) { worst = (i, err) }
            }
            check(worst == nil, worst.map { "params.\(name)[\($0.0)] is \(got[$0.0]), expected \(want[$0.0]) (|diff| \($0.1))" } ?? "")
        }
    }
}

public struct ConformanceError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
