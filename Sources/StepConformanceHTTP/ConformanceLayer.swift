/// Where `stepd conformance` replays the cases. Every case must give the same numbers at each.
public enum ConformanceLayer: String, CaseIterable, Sendable {
    /// StepCore's sessions called directly (`SessionDriver`).
    case library
    /// The StepServer application's router called in-process: routes, body decoding and
    /// encoding as the server runs them, no network; JSON and binary bodies.
    case router
    /// A real stepd HTTP server on a free 127.0.0.1 port, over TCP; JSON and binary bodies.
    case socket
}
