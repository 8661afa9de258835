import CoreMetrics
import Prometheus

/// swift-prometheus' own `PrometheusMetricsFactory` registers every metric with empty help
/// text, and its registry refuses (fatally) a second registration of a name with different
/// help. This factory passes each declared family's help text and buckets instead, so
/// swift-metrics handles and scrape-time gauges land in the same families with `# HELP` lines.
struct DescribedPrometheusFactory: MetricsFactory, Sendable {
    struct Declaration: Sendable {
        var help: String
        var buckets: [Duration] = []
    }

    let registry: PrometheusCollectorRegistry
    private let declarations = LockedValue<[String: Declaration]>([:])

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    func declare(_ name: String, help: String, buckets: [Duration] = []) {
        declarations.withLock { $0[name] = Declaration(help: help, buckets: buckets) }
    }

    private func descriptor(_ label: String) -> (MetricNameDescriptor, Declaration) {
        let d = declarations.withLock { $0[label] }
        precondition(d != nil, "metric \(label) was never declared")
        return (MetricNameDescriptor(metricName: label, helpText: d!.help), d!)
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: descriptor(label).0, labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: descriptor(label).0, labels: dimensions)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: descriptor(label).0, labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        let (name, d) = descriptor(label)
        guard aggregate else { return registry.makeGauge(descriptor: name, labels: dimensions) }
        return registry.makeValueHistogram(descriptor: name, labels: dimensions,
                                           buckets: d.buckets.map { Double($0.components.seconds) + Double($0.components.attoseconds) * 1e-18 })
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let (name, d) = descriptor(label)
        return registry.makeDurationHistogram(descriptor: name, labels: dimensions, buckets: d.buckets)
    }

    func destroyCounter(_ handler: any CounterHandler) {
        if let c = handler as? Prometheus.Counter { registry.unregisterCounter(c) }
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let c = handler as? Prometheus.Counter { registry.unregisterCounter(c) }
    }

    func destroyMeter(_ handler: any MeterHandler) {
        if let g = handler as? Prometheus.Gauge { registry.unregisterGauge(g) }
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        if let g = handler as? Prometheus.Gauge { registry.unregisterGauge(g) }
        if let h = handler as? Prometheus.ValueHistogram { registry.unregisterValueHistogram(h) }
    }

    func destroyTimer(_ handler: any TimerHandler) {
        if let h = handler as? Prometheus.DurationHistogram { registry.unregisterDurationHistogram(h) }
    }
}
