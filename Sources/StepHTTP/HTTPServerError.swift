/// Why the server could not start. Carries the text libmicrohttpd logged, because
/// `MHD_start_daemon` itself only says "NULL".
public enum HTTPServerError: Error, Sendable, CustomStringConvertible {
    case invalidHost(String)
    case startFailed(host: String, port: Int, reason: String)
    case alreadyRunning
    case tlsUnsupported
    case tlsFileUnreadable(role: String, path: String, reason: String)
    case tlsFileInvalid(role: String, path: String, detail: String)
    /// GnuTLS refused the pair: a key that does not match the certificate, or PEM it cannot parse.
    case tlsRefused(certificateFile: String, keyFile: String, reason: String)

    public var description: String {
        switch self {
        case .invalidHost(let h): "cannot resolve listen address \(h)"
        case .startFailed(let h, let p, let r): "cannot listen on \(h):\(p): \(r)"
        case .alreadyRunning: "the server is already running"
        case .tlsUnsupported:
            "TLS was asked for, but this libmicrohttpd is built without it (MHD_FEATURE_TLS); serve plain HTTP behind a proxy that terminates TLS"
        case .tlsFileUnreadable(let role, let path, let reason): "cannot read the TLS \(role) file \(path): \(reason)"
        case .tlsFileInvalid(let role, let path, let detail): "the TLS \(role) file \(path) \(detail)"
        case .tlsRefused(let certificate, let key, let reason):
            "the TLS certificate \(certificate) and private key \(key) were refused: \(reason)"
        }
    }
}
