import StepJSON

/// A reading of a session's recent history, for a dashboard or an alert. The rules are simple
/// and stated here so a user can predict them:
/// - `nonfinite`: one of the last 10 requests was skipped for NaN/Inf gradients;
/// - `diverging`: the mean loss of the last 10 steps is over twice the best 10-step mean so far,
///   or the last parameter norm is not finite;
/// - `loss_spike`: the last loss is over 3× the median of the 50 before it;
/// - `grad_norm_spike`: the last gradient norm is over 5× the median of the 50 before it;
/// - `plateau`: over the last 200 steps with a loss, the newer half's mean improved on the older
///   half's by less than 0.1%;
/// - `ok` otherwise. The first matching rule in that order wins; `reasons` lists all that match.
public struct HealthVerdict: Sendable, Equatable {
    public enum Status: String, Sendable { case ok, nonfinite, diverging, loss_spike, grad_norm_spike, plateau }

    public var status: Status
    public var reasons: [String]

    public init(history: [StepRecord]) {
        var found: [(Status, String)] = []
        let recent = history.suffix(10)
        if let bad = recent.last(where: { $0.skipped }) {
            found.append((.nonfinite, "step request after step \(bad.step) had non-finite gradients and was skipped"))
        }
        let applied = history.filter { !$0.skipped }
        let losses = applied.compactMap(\.loss)
        if let last = applied.last, !last.paramNorm.isFinite {
            found.append((.diverging, "parameter norm is \(last.paramNorm)"))
        } else if losses.count >= 20 {
            var best = Double.infinity
            for i in 10...losses.count { best = min(best, mean(losses[(i - 10)..<i])) }
            let current = mean(losses.suffix(10))
            if best > 0, current > 2 * best {
                found.append((.diverging, "mean loss of the last 10 steps \(current) is over twice the best 10-step mean \(best)"))
            }
        }
        if losses.count >= 11, let last = losses.last {
            let m = median(Array(losses.dropLast().suffix(50)))
            if m > 0, last > 3 * m { found.append((.loss_spike, "loss \(last) is over 3× the recent median \(m)")) }
        }
        let norms = applied.compactMap(\.gradNorm)
        if norms.count >= 11, let last = norms.last {
            let m = median(Array(norms.dropLast().suffix(50)))
            if m > 0, last > 5 * m { found.append((.grad_norm_spike, "gradient norm \(last) is over 5× the recent median \(m)")) }
        }
        if losses.count >= 200 {
            let window = Array(losses.suffix(200))
            let older = mean(window[0..<100]), newer = mean(window[100...])
            if older > 0, (older - newer) / older < 1e-3 {
                found.append((.plateau, "mean loss moved from \(older) to \(newer) over the last 200 steps (< 0.1% better)"))
            }
        }
        status = found.first?.0 ?? .ok
        reasons = found.map(\.1)
    }

    public var json: JSONValue { ["status": .string(status.rawValue), "reasons": .array(reasons.map { .string($0) })] }
}

private func mean<C: Collection>(_ xs: C) -> Double where C.Element == Double {
    xs.isEmpty ? 0 : xs.reduce(0, +) / Double(xs.count)
}

private func median(_ xs: [Double]) -> Double {
    guard !xs.isEmpty else { return 0 }
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
