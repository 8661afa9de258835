/// The Prometheus registry of one server instance (no process-wide state, so tests can run
/// servers side by side). Counters and histograms are created up front and updated by the
/// code that knows; gauges are closures read at scrape time, so a value such as the number
/// of sessions is never stale and never needs to be pushed.
public final class Metrics: Sendable {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Latency buckets for a step, from a tiny model (tens of µs) to a large one (seconds).
    public static let stepSecondsBuckets: [Double] =
        [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    private enum Family {
        case counter(Counter)
        case histogram(Histogram)
        case gauge(name: String, help: String, labelNames: [String], read: @Sendable () -> [([String], Double)])
    }

    private let families = LockedValue<[Family]>([])

    /// `stepd_http_requests_total{route,method,status}`, updated by the router per request.
    /// `route` is the matched pattern or "unmatched".
    public let httpRequests: Counter

    /// `stepd_http_connections_cut_total{reason}`: connections closed by the server for
    /// sending a request head (`head`) or body (`body`) too slowly.
    public let connectionsCut: Counter

    public init() {
        httpRequests = Counter(name: "stepd_http_requests_total",
                               help: "HTTP requests by route pattern, method and status.",
                               labelNames: ["route", "method", "status"])
        connectionsCut = Counter(name: "stepd_http_connections_cut_total",
                                 help: "Connections closed for sending a request head or body too slowly.",
                                 labelNames: ["reason"])
        families.withLock { $0 += [.counter(httpRequests), .counter(connectionsCut)] }
    }

    public func counter(_ name: String, help: String, labels: [String] = []) -> Counter {
        let c = Counter(name: name, help: help, labelNames: labels)
        families.withLock { $0.append(.counter(c)) }
        return c
    }

    public func histogram(_ name: String, help: String, buckets: [Double], labels: [String] = []) -> Histogram {
        let h = Histogram(name: name, help: help, bounds: buckets, labelNames: labels)
        families.withLock { $0.append(.histogram(h)) }
        return h
    }

    /// A gauge read when scraped. The closure runs on the scraping thread and may take locks.
    public func gauge(_ name: String, help: String, _ read: @escaping @Sendable () -> Double) {
        families.withLock { $0.append(.gauge(name: name, help: help, labelNames: [], read: { [([], read())] })) }
    }

    /// A labelled gauge family read when scraped: the closure returns (label values, value).
    public func gauges(_ name: String, help: String, labels: [String],
                       _ read: @escaping @Sendable () -> [([String], Double)]) {
        families.withLock { $0.append(.gauge(name: name, help: help, labelNames: labels, read: read)) }
    }

    func recordRequest(route: String?, method: HTTPMethod, status: HTTPStatus) {
        let m = HTTPMethod.known.contains(method) ? method.rawValue : "other"
        httpRequests.increment([route ?? "unmatched", m, String(status.code)])
    }

    /// The text exposition format, version 0.0.4.
    public func render() -> String {
        let all = families.withLock { $0 }
        var out = ""
        for family in all {
            switch family {
            case .counter(let c): c.render(into: &out)
            case .histogram(let h): h.render(into: &out)
            case .gauge(let name, let help, let labelNames, let read):
                out += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n"
                for (labels, value) in read() where labels.count == labelNames.count {
                    out += name + Metrics.labelText(labelNames, labels) + " " + Metrics.number(value) + "\n"
                }
            }
        }
        return out
    }

    /// The scrape response, for a `/metrics` route.
    public func response() -> HTTPResponse {
        .text(render(), contentType: Metrics.contentType)
    }

    static func labelText(_ names: [String], _ values: [String]) -> String {
        guard !names.isEmpty else { return "" }
        let pairs = zip(names, values).map { name, value in
            var v = ""
            for ch in value {
                switch ch {
                case "\\": v += "\\\\"
                case "\"": v += "\\\""
                case "\n": v += "\\n"
                default: v.append(ch)
                }
            }
            return "\(name)=\"\(v)\""
        }
        return "{" + pairs.joined(separator: ",") + "}"
    }

    static func number(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d > 0 ? "+Inf" : "-Inf" }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return "\(d)"
    }
}
