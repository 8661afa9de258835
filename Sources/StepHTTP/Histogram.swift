/// A Prometheus histogram family (cumulative buckets, sum, count), e.g. step latency.
/// Observation is a lock and a bucket search, cheap enough to call on every step.
public final class Histogram: Sendable {
    struct Series {
        var buckets: [UInt64]
        var sum: Double = 0
        var count: UInt64 = 0
    }

    public let name: String
    public let help: String
    public let labelNames: [String]
    /// Upper bounds, ascending; `+Inf` is implied.
    public let bounds: [Double]
    private let series = LockedValue<(order: [[String]], values: [[String]: Series])>(([], [:]))

    init(name: String, help: String, bounds: [Double], labelNames: [String]) {
        self.name = name
        self.help = help
        self.bounds = bounds.sorted()
        self.labelNames = labelNames
    }

    public func observe(_ value: Double, _ labels: [String] = []) {
        precondition(labels.count == labelNames.count, "\(name) takes labels \(labelNames)")
        let slot = bounds.firstIndex(where: { value <= $0 }) ?? bounds.count
        series.withLock { s in
            var x = s.values[labels] ?? {
                s.order.append(labels)
                return Series(buckets: [UInt64](repeating: 0, count: bounds.count + 1))
            }()
            x.buckets[slot] += 1
            x.sum += value
            x.count += 1
            s.values[labels] = x
        }
    }

    /// Runs `body` and observes how long it took, in seconds.
    public func time<R>(_ labels: [String] = [], _ body: () throws -> R) rethrows -> R {
        let start = ContinuousClock.now
        defer {
            let d = ContinuousClock.now - start
            observe(Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18, labels)
        }
        return try body()
    }

    public func count(_ labels: [String] = []) -> UInt64 {
        series.withLock { $0.values[labels]?.count ?? 0 }
    }

    func render(into out: inout String) {
        out += "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
        let rows = series.withLock { s in s.order.map { ($0, s.values[$0]!) } }
        for (labels, x) in rows {
            var cumulative: UInt64 = 0
            for (i, bound) in (bounds + [.infinity]).enumerated() {
                cumulative += x.buckets[i]
                let le = bound.isInfinite ? "+Inf" : Metrics.number(bound)
                out += name + "_bucket" + Metrics.labelText(labelNames + ["le"], labels + [le]) + " \(cumulative)\n"
            }
            out += name + "_sum" + Metrics.labelText(labelNames, labels) + " " + Metrics.number(x.sum) + "\n"
            out += name + "_count" + Metrics.labelText(labelNames, labels) + " \(x.count)\n"
        }
    }
}
