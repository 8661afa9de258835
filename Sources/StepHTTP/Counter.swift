/// A Prometheus counter family: one monotonically increasing value per label set. Label sets
/// keep first-seen order so the rendered text is stable between scrapes.
public final class Counter: Sendable {
    public let name: String
    public let help: String
    public let labelNames: [String]
    private let series = LockedValue<(order: [[String]], values: [[String]: Double])>(([], [:]))

    init(name: String, help: String, labelNames: [String]) {
        self.name = name
        self.help = help
        self.labelNames = labelNames
    }

    public func increment(_ labels: [String] = [], by amount: Double = 1) {
        precondition(labels.count == labelNames.count, "\(name) takes labels \(labelNames)")
        series.withLock { s in
            if let v = s.values[labels] {
                s.values[labels] = v + amount
            } else {
                s.order.append(labels)
                s.values[labels] = amount
            }
        }
    }

    public func value(_ labels: [String] = []) -> Double {
        series.withLock { $0.values[labels] ?? 0 }
    }

    func render(into out: inout String) {
        out += "# HELP \(name) \(help)\n# TYPE \(name) counter\n"
        let rows = series.withLock { s in s.order.map { ($0, s.values[$0] ?? 0) } }
        for (labels, value) in rows {
            out += name + Metrics.labelText(labelNames, labels) + " " + Metrics.number(value) + "\n"
        }
    }
}
