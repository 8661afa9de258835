import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A certificate chain and its private key, PEM text read from files, for serving HTTPS
/// through libmicrohttpd's GnuTLS. The files are checked here, where their names are known:
/// GnuTLS's own refusal ("Base64 decoding error") names neither. Whether the key matches the
/// certificate only GnuTLS can tell, when the server starts (`HTTPServerError.tlsRefused`).
public struct TLSCredentials: Sendable {
    public let certificateFile: String
    public let keyFile: String
    let certificatePEM: String
    let keyPEM: String

    public init(certificateFile: String, keyFile: String) throws {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        certificatePEM = try Self.read(certificateFile, role: "certificate")
        keyPEM = try Self.read(keyFile, role: "private key")
        let certificates = try Self.blocks(in: certificatePEM, file: certificateFile, role: "certificate")
        guard certificates.contains("CERTIFICATE") else {
            throw HTTPServerError.tlsFileInvalid(role: "certificate", path: certificateFile,
                                                 detail: "holds no PEM certificate (no -----BEGIN CERTIFICATE----- line)")
        }
        let keys = try Self.blocks(in: keyPEM, file: keyFile, role: "private key")
        if keys.contains("ENCRYPTED PRIVATE KEY") || keyPEM.contains("Proc-Type: 4,ENCRYPTED") {
            throw HTTPServerError.tlsFileInvalid(role: "private key", path: keyFile,
                                                 detail: "is encrypted; give an unencrypted key (openssl pkey -in \(keyFile) -out plain.pem)")
        }
        guard keys.contains(where: { $0.hasSuffix("PRIVATE KEY") }) else {
            throw HTTPServerError.tlsFileInvalid(role: "private key", path: keyFile,
                                                 detail: "holds no PEM private key (no -----BEGIN PRIVATE KEY----- line or the RSA/EC variant)")
        }
    }

    private static func read(_ path: String, role: String) throws -> String {
        guard let file = fopen(path, "rb") else {
            throw HTTPServerError.tlsFileUnreadable(role: role, path: path, reason: String(cString: strerror(errno)))
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            bytes += buffer[..<n]
            if n < buffer.count { break }
            // A PEM chain is a few kilobytes; anything this large is the wrong file.
            guard bytes.count <= 1 << 20 else {
                throw HTTPServerError.tlsFileInvalid(role: role, path: path, detail: "is over 1 MiB, too large for PEM text")
            }
        }
        if ferror(file) != 0 {
            throw HTTPServerError.tlsFileUnreadable(role: role, path: path, reason: String(cString: strerror(errno)))
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The labels of the PEM blocks in `text` (`CERTIFICATE`, `PRIVATE KEY`, ...), after
    /// checking that each block's base64 decodes.
    private static func blocks(in text: String, file: String, role: String) throws -> [String] {
        var labels: [String] = []
        var open: (label: String, body: String)?
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if let label = Self.label(line, "-----BEGIN ") {
                open = (label, "")
            } else if let label = Self.label(line, "-----END "), let block = open {
                guard label == block.label else {
                    throw HTTPServerError.tlsFileInvalid(role: role, path: file,
                                                         detail: "has -----BEGIN \(block.label)----- closed by -----END \(label)-----")
                }
                guard Data(base64Encoded: block.body) != nil else {
                    throw HTTPServerError.tlsFileInvalid(role: role, path: file,
                                                         detail: "is not valid PEM: the \(label) block's base64 does not decode")
                }
                labels.append(label)
                open = nil
            } else if open != nil, !line.contains(":") {
                open!.body += line
            }
        }
        if let block = open {
            throw HTTPServerError.tlsFileInvalid(role: role, path: file, detail: "has no -----END \(block.label)----- line")
        }
        return labels
    }

    private static func label(_ line: String, _ prefix: String) -> String? {
        guard line.hasPrefix(prefix), line.hasSuffix("-----"), line.count > prefix.count + 5 else { return nil }
        return String(line.dropFirst(prefix.count).dropLast(5))
    }
}
