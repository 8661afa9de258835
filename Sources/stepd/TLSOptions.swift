import StepHTTP
import ArgumentParser
import StepServer

/// `--tls-cert` and `--tls-key`: serve HTTPS through libmicrohttpd's own TLS (GnuTLS).
struct TLSOptions: ParsableArguments {
    @Option(help: "PEM certificate (chain) to serve HTTPS with; needs --tls-key.")
    var tlsCert: String?
    @Option(help: "PEM private key (unencrypted) for --tls-cert.")
    var tlsKey: String?

    func validate() throws {
        switch (tlsCert, tlsKey) {
        case (let cert?, nil):
            throw ValidationError("--tls-cert \(cert) needs --tls-key with the certificate's private key")
        case (nil, let key?):
            throw ValidationError("--tls-key \(key) needs --tls-cert with the matching certificate")
        default:
            break
        }
    }

    /// The files' contents, checked; nil for plain HTTP.
    func credentials() throws -> TLSCredentials? {
        guard let tlsCert, let tlsKey else { return nil }
        return try TLSCredentials(certificateFile: tlsCert, keyFile: tlsKey)
    }

    /// For the start-up line: whether TLS is on, and if not, whether it could be.
    static func state(on: Bool) -> String {
        if on { return "tls: on" }
        return HTTPServer.supportsTLS ? "tls: off, available" : "tls: off, not built into libmicrohttpd"
    }
}
