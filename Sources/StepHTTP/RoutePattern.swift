/// A path template such as `/v1/sessions/{id}/steps`. Parsed once at registration so that
/// matching is a segment walk, and kept as text because the text is the metrics label:
/// labelling by pattern rather than by raw path keeps the label set bounded.
public struct RoutePattern: Sendable, Hashable, CustomStringConvertible {
    enum Segment: Sendable, Hashable {
        case literal(String)
        case parameter(String)
    }

    public let text: String
    let segments: [Segment]

    public init(_ text: String) {
        precondition(text.hasPrefix("/"), "route pattern must start with '/': \(text)")
        self.text = text
        segments = text.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map { part in
            if part.hasPrefix("{") && part.hasSuffix("}") && part.count > 2 {
                return .parameter(String(part.dropFirst().dropLast()))
            }
            return .literal(String(part))
        }
    }

    public var description: String { text }

    /// How many segments are literal: when two patterns match a path, the more literal one
    /// wins, so `/v1/sessions/export` can coexist with `/v1/sessions/{id}`.
    var specificity: Int {
        segments.reduce(0) { n, s in if case .literal = s { n + 1 } else { n } }
    }

    /// The captured parameters, or nil when the path does not fit. A parameter never
    /// captures an empty segment, so `/v1/sessions//steps` is not a request for session "".
    func match(_ pathSegments: [Substring]) -> PathParameters? {
        guard pathSegments.count == segments.count else { return nil }
        var params = PathParameters()
        for (segment, part) in zip(segments, pathSegments) {
            switch segment {
            case .literal(let s): if part != s { return nil }
            case .parameter(let name):
                if part.isEmpty { return nil }
                params.values.append((name, String(part)))
            }
        }
        return params
    }

    static func split(_ path: String) -> [Substring] {
        path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
    }
}
