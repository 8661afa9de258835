/// Why the server could not start. Carries the text libmicrohttpd logged, because
/// `MHD_start_daemon` itself only says "NULL".
public enum HTTPServerError: Error, Sendable, CustomStringConvertible {
    case invalidHost(String)
    case startFailed(host: String, port: Int, reason: String)
    case alreadyRunning

    public var description: String {
        switch self {
        case .invalidHost(let h): "cannot resolve listen address \(h)"
        case .startFailed(let h, let p, let r): "cannot listen on \(h):\(p): \(r)"
        case .alreadyRunning: "the server is already running"
        }
    }
}
