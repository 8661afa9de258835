import CoreMetrics
import HTTPTypes
import Prometheus

/// The metrics of one server instance: recorded through swift-metrics' API, stored and exposed
/// by swift-prometheus. Each instance has its own registry and factory (swift-metrics' global
/// bootstrap is never called), so tests can run servers side by side. Families are declared up
/// front with their help text and labels; gauges are closures read at scrape time, so a value
/// such as the number of sessions is never stale and never needs to be pushed.
public final class Metrics: Sendable {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Latency buckets for a step, from a tiny model (tens of µs) to a large one (seconds).
    public static let stepSecondsBuckets: [Double] =
        [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    let registry = PrometheusCollectorRegistry()
    let factory: DescribedPrometheusFactory
    private let scrapeGauges = LockedValue<[ScrapeGauge]>([])

    /// `stepd_http_requests_total{route,method,status}`, updated by the router per request.
    /// `route` is the matched pattern or "unmatched".
    public let httpRequests: CounterFamily

    /// `stepd_http_connections_cut_total{reason}`: connections closed by the server for
    /// sending a request head (`head`) or body (`body`) too slowly.
    public let connectionsCut: CounterFamily

    public init() {
        factory = DescribedPrometheusFactory(registry: registry)
        httpRequests = CounterFamily(name: "stepd_http_requests_total", labelNames: ["route", "method", "status"], factory: factory)
        connectionsCut = CounterFamily(name: "stepd_http_connections_cut_total", labelNames: ["reason"], factory: factory)
        factory.declare(httpRequests.name, help: "HTTP requests by route pattern, method and status.")
        factory.declare(connectionsCut.name, help: "Connections closed for sending a request head or body too slowly.")
    }

    /// Methods outside these are labelled "other", so a client inventing methods cannot grow
    /// the label set without bound.
    private static let knownMethods: Set<HTTPRequest.Method> = [.get, .head, .post, .put, .patch, .delete, .options]

    func recordRequest(route: String?, method: HTTPRequest.Method, status: HTTPResponse.Status) {
        let m = Metrics.knownMethods.contains(method) ? method.rawValue : "other"
        httpRequests.increment([route ?? "unmatched", m, String(status.code)])
    }

    public func counter(_ name: String, help: String, labels: [String] = []) -> CounterFamily {
        factory.declare(name, help: help)
        return CounterFamily(name: name, labelNames: labels, factory: factory)
    }

    /// A histogram of durations in seconds; `buckets` are upper bounds in seconds.
    public func histogram(_ name: String, help: String, buckets: [Double], labels: [String] = []) -> DurationFamily {
        factory.declare(name, help: help, buckets: buckets.sorted().map { .nanoseconds(Int64(($0 * 1e9).rounded())) })
        return DurationFamily(name: name, labelNames: labels, factory: factory)
    }

    /// A gauge read when scraped. The closure runs on the scraping thread and may take locks.
    public func gauge(_ name: String, help: String, _ read: @escaping @Sendable () -> Double) {
        gauges(name, help: help, labels: []) { [([], read())] }
    }

    /// A labelled gauge family read when scraped: the closure returns (label values, value).
    /// Label sets it stops returning are dropped from the exposition.
    public func gauges(_ name: String, help: String, labels: [String],
                       _ read: @escaping @Sendable () -> [([String], Double)]) {
        factory.declare(name, help: help)
        scrapeGauges.withLock { $0.append(ScrapeGauge(name: name, help: help, labelNames: labels, read: read)) }
    }

    /// The text exposition format, version 0.0.4.
    public func render() -> String {
        // One scrape at a time, so two scrapes cannot interleave their gauge updates.
        scrapeGauges.withLock { gauges in
            for i in gauges.indices { gauges[i].update(registry: registry) }
            return registry.emitToString()
        }
    }

    /// The scrape response, for a `/metrics` route.
    public func response() -> Response {
        .text(render(), contentType: Metrics.contentType)
    }
}

/// A counter family: label values in the declared order, one swift-metrics counter per set.
public struct CounterFamily: Sendable {
    public let name: String
    public let labelNames: [String]
    let handles: MetricHandles<CoreMetrics.Counter>

    init(name: String, labelNames: [String], factory: DescribedPrometheusFactory) {
        self.name = name
        self.labelNames = labelNames
        handles = MetricHandles { CoreMetrics.Counter(label: name, dimensions: Array(zip(labelNames, $0)), factory: factory) }
    }

    public func increment(_ labels: [String] = [], by amount: Int64 = 1) {
        precondition(labels.count == labelNames.count, "\(name) takes labels \(labelNames)")
        handles[labels].increment(by: amount)
    }
}

/// A histogram family of durations, recorded through swift-metrics' `Timer`.
public struct DurationFamily: Sendable {
    public let name: String
    public let labelNames: [String]
    let handles: MetricHandles<CoreMetrics.Timer>

    init(name: String, labelNames: [String], factory: DescribedPrometheusFactory) {
        self.name = name
        self.labelNames = labelNames
        handles = MetricHandles { CoreMetrics.Timer(label: name, dimensions: Array(zip(labelNames, $0)), factory: factory) }
    }

    public func record(_ duration: Duration, _ labels: [String] = []) {
        precondition(labels.count == labelNames.count, "\(name) takes labels \(labelNames)")
        let (seconds, attoseconds) = duration.components
        handles[labels].recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// Runs `body` and records how long it took.
    public func time<R>(_ labels: [String] = [], _ body: () throws -> R) rethrows -> R {
        let start = ContinuousClock.now
        defer { record(ContinuousClock.now - start, labels) }
        return try body()
    }
}

/// The swift-metrics handle of each label set, made once. Making one per request went through
/// the registry's name and label validation each time: 1.5-5 us of server CPU per request
/// (`stepd bench http`, binary step and /healthz).
final class MetricHandles<Handle: Sendable>: Sendable {
    private let make: @Sendable ([String]) -> Handle
    private let made = LockedValue<[[String]: Handle]>([:])

    init(_ make: @escaping @Sendable ([String]) -> Handle) { self.make = make }

    subscript(labels: [String]) -> Handle {
        made.withLock { m in
            if let h = m[labels] { return h }
            let h = make(labels)
            m[labels] = h
            return h
        }
    }
}

/// A gauge family whose values come from a closure at scrape time.
struct ScrapeGauge: Sendable {
    let name: String
    let help: String
    let labelNames: [String]
    let read: @Sendable () -> [([String], Double)]
    /// The label sets set at the last scrape, to unregister those that are gone.
    var current: [[String]: Prometheus.Gauge] = [:]

    mutating func update(registry: PrometheusCollectorRegistry) {
        var next: [[String]: Prometheus.Gauge] = [:]
        for (labels, value) in read() where labels.count == labelNames.count {
            let gauge = current[labels] ?? registry.makeGauge(
                descriptor: MetricNameDescriptor(metricName: name, helpText: help), labels: Array(zip(labelNames, labels)))
            gauge.set(to: value)
            next[labels] = gauge
        }
        for (labels, gauge) in current where next[labels] == nil { registry.unregisterGauge(gauge) }
        current = next
    }
}
