/// Replays a case through a driver and compares every recorded expectation.
public struct ConformanceResult: Sendable {
    public var name: String
    /// The driver's layer (`library`, `router/json`, ...).
    public var layer: String
    public var failures: [String]
    public var checks: Int
    /// Set when the case was not run because this build cannot run it yet (and why).
    public var notYet: String?
    public var passed: Bool { failures.isEmpty }
    /// One line naming the case, the layer and the outcome.
    public var line: String {
        if let notYet { return "NOT YET \(name) [\(layer)]: \(notYet)" }
        return passed ? "PASS \(name) [\(layer)] (\(checks) checks)" : "FAIL \(name) [\(layer)]: \(failures.count) of \(checks) checks failed; first: \(failures[0])"
    }
}

public enum ConformanceRunner {
    /// Relative tolerance for open-loop lr and grad_norm (float64 in the recording).
    public static let scalarRtol = 1e-4

    public static func run<D: ConformanceDriver>(_ c: ConformanceCase, driver: inout D) -> ConformanceResult {
        var result = ConformanceResult(name: c.name, layer: driver.layer, failures: [], checks: 0)
        if let why = c.notYetSupported {
            result.notYet = why
            return result
        }
        do {
            try driver.create(session: c)
        } catch {
            result.failures.append("error: create: \(error)")
            return result
        }
        do {
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
                    if let want = s.expect.average {
                        compareTensors(c, "step \(s.index): average", want, try driver.params(view: "average"), &result)
                    }
                    if let want = s.expect.evalParams {
                        compareTensors(c, "step \(s.index): eval_params", want, try driver.params(view: "eval"), &result)
                    }
                    if let want = s.expect.state {
                        compareState(c, "step \(s.index): state", want, try driver.quantizedState(), &result)
                    }
                }
            }
        } catch {
            result.failures.append("error: \(error)")
        }
        // Also after a failure, so that a server replaying many cases does not keep the session.
        do {
            try driver.finish()
        } catch {
            result.failures.append("error: finish: \(error)")
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
        compareTensors(c, "\(at): params", e.params, params, &result)
    }

    /// One check per tensor: within tolerance, and in an exact case also bit for bit (the
    /// recording's float32 values, written as decimals that round-trip).
    private static func compareTensors(_ c: ConformanceCase, _ what: String, _ wanted: [String: [Double]],
                                       _ got: [String: [Float]], _ result: inout ConformanceResult) {
        for (name, want) in wanted.sorted(by: { $0.key < $1.key }) {
            result.checks += 1
            guard let have = got[name], have.count == want.count else {
                result.failures.append("\(what).\(name): missing or wrong length")
                continue
            }
            var worst: (Int, Double)? = nil
            var differingBits: Int? = nil, differing = 0
            for i in 0..<want.count {
                if !c.tolerance.accepts(Double(have[i]), want[i]) {
                    let err = abs(Double(have[i]) - want[i])
                    if err > (worst?.1 ?? -1) { worst = (i, err) }
                }
                if c.exact, have[i].bitPattern != Float(want[i]).bitPattern, !(have[i].isNaN && want[i].isNaN) {
                    differing += 1
                    if differingBits == nil { differingBits = i }
                }
            }
            if let (i, err) = worst {
                result.failures.append("\(what).\(name)[\(i)] is \(have[i]), expected \(want[i]) (|diff| \(err))")
            } else if let i = differingBits {
                let w = Float(want[i])
                result.failures.append("\(what).\(name): EXACT case differs from torch's bits in \(differing) of \(want.count) elements; first [\(i)] is \(have[i]) (0x\(String(have[i].bitPattern, radix: 16))), torch has \(w) (0x\(String(w.bitPattern, radix: 16)))")
            }
        }
    }
}

extension ConformanceRunner {
    /// One check per tensor: kept in float32 where the recording kept it so, otherwise per state
    /// the same number of codes and blocks, at least `codes_match` of the codes equal, and each
    /// absmax within the parameters' tolerance.
    static func compareState(_ c: ConformanceCase, _ what: String, _ wanted: [String: [String: QuantizedState]?],
                             _ got: [String: [String: QuantizedState]?], _ result: inout ConformanceResult) {
        for (tensor, want) in wanted.sorted(by: { $0.key < $1.key }) {
            result.checks += 1
            let have = got[tensor] ?? nil
            guard let want else {
                if have != nil { result.failures.append("\(what).\(tensor): is q8, the recording kept it in float32") }
                continue
            }
            guard let have else {
                result.failures.append("\(what).\(tensor): is not q8, the recording has its codes")
                continue
            }
            for (role, w) in want.sorted(by: { $0.key < $1.key }) {
                guard let h = have[role], h.codes.count == w.codes.count, h.absmax.count == w.absmax.count else {
                    result.failures.append("\(what).\(tensor).\(role): missing, or not \(w.codes.count) codes and \(w.absmax.count) blocks")
                    continue
                }
                let same = zip(h.codes, w.codes).count { $0 == $1 }
                let fraction = Double(same) / Double(max(1, w.codes.count))
                if fraction < (c.tolerance.codesMatch ?? 1) {
                    result.failures.append("\(what).\(tensor).\(role): \(same) of \(w.codes.count) codes match the recording (\(fraction)), fewer than \(c.tolerance.codesMatch ?? 1)")
                }
                if let i = w.absmax.indices.first(where: { !c.tolerance.accepts(Double(h.absmax[$0]), Double(w.absmax[$0])) }) {
                    result.failures.append("\(what).\(tensor).\(role): absmax[\(i)] is \(h.absmax[i]), expected \(w.absmax[i])")
                }
            }
        }
    }
}

public struct ConformanceError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
