import StepHTTP
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import StepJSON
import HTTPTypes

/// A deliberately small HTTP/1.1 client over a raw socket, for tests that need control a
/// URL session does not give: arbitrary bytes, bodies sent in pieces or chunk-encoded,
/// lying `Content-Length`, and reading whatever comes back until the server closes.
/// One request per connection (`Connection: close`).
public struct TestHTTPClient: Sendable {
    public var host = "127.0.0.1"
    public var port: Int
    public var timeoutSeconds = 15
    /// The local address to connect from (another loopback address such as 127.0.0.2 looks
    /// like another client to per-address limits); nil lets the system choose.
    public var sourceHost: String? = nil

    public init(host: String = "127.0.0.1", port: Int, timeoutSeconds: Int = 15, sourceHost: String? = nil) {
        self.host = host
        self.port = port
        self.timeoutSeconds = timeoutSeconds
        self.sourceHost = sourceHost
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public struct Response: Sendable {
        public var status: Int
        public var reason: String
        public var headers: HTTPFields
        public var body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }
        public func json() throws -> JSONValue { try JSONParser.parse(body) }
    }

    /// How the body goes on the wire.
    public enum BodyFraming: Sendable {
        /// `Content-Length` of the body, written in `pieces`-byte writes.
        case contentLength(pieces: Int)
        /// `Transfer-Encoding: chunked`, `size`-byte chunks.
        case chunked(size: Int)
    }

    public func request(_ method: String, _ target: String, headers: [(String, String)] = [],
                 body: [UInt8]? = nil, framing: BodyFraming = .contentLength(pieces: 64 * 1024)) throws -> Response {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\n"
        for (n, v) in headers { head += "\(n): \(v)\r\n" }
        let connection = try Connection(host: host, port: port, timeoutSeconds: timeoutSeconds, sourceHost: sourceHost)
        defer { connection.close() }
        if let body {
            switch framing {
            case .contentLength(let pieces):
                if !headers.contains(where: { $0.0.lowercased() == "content-length" }) {
                    head += "Content-Length: \(body.count)\r\n"
                }
                connection.send(Array((head + "\r\n").utf8))
                var i = 0
                while i < body.count, connection.send(Array(body[i..<min(i + pieces, body.count)])) {
                    i += pieces
                }
            case .chunked(let size):
                head += "Transfer-Encoding: chunked\r\n"
                connection.send(Array((head + "\r\n").utf8))
                var i = 0
                while i < body.count {
                    let piece = body[i..<min(i + size, body.count)]
                    guard connection.send(Array(String(piece.count, radix: 16).utf8) + [13, 10] + piece + [13, 10])
                    else { break }
                    i += size
                }
                connection.send(Array("0\r\n\r\n".utf8))
            }
        } else {
            connection.send(Array((head + "\r\n").utf8))
        }
        return try Self.parse(connection.readToEnd())
    }

    /// Writes `bytes` as they are and returns everything the server sends until it closes.
    public func raw(_ bytes: [UInt8]) throws -> [UInt8] {
        let connection = try Connection(host: host, port: port, timeoutSeconds: timeoutSeconds, sourceHost: sourceHost)
        defer { connection.close() }
        connection.send(bytes)
        return connection.readToEnd()
    }

    public func raw(_ text: String) throws -> [UInt8] { try raw(Array(text.utf8)) }

    /// Opens a connection the caller drives, for requests left half-sent on purpose.
    public func open() throws -> Connection { try Connection(host: host, port: port, timeoutSeconds: timeoutSeconds, sourceHost: sourceHost) }

    public static func parse(_ bytes: [UInt8]) throws -> Response {
        guard let end = find([13, 10, 13, 10], in: bytes, from: 0) else {
            throw Failure(description: "no complete response head in \(bytes.count) bytes: \(String(decoding: bytes.prefix(200), as: UTF8.self))")
        }
        let lines = String(decoding: bytes[..<end], as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusParts = lines[0].split(separator: " ", maxSplits: 2)
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
            throw Failure(description: "bad status line \(lines[0])")
        }
        var headers = HTTPFields()
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            guard let name = HTTPField.Name(String(line[..<colon])) else {
                throw Failure(description: "response field name \(line[..<colon]) is not a token")
            }
            headers.append(HTTPField(name: name,
                                     value: String(line[line.index(after: colon)...]).trimmingCharacters(in: " ")))
        }
        var body = Array(bytes[(end + 4)...])
        if headers[.transferEncoding]?.lowercased() == "chunked" {
            body = try dechunk(body)
        } else if let n = headers[.contentLength].flatMap({ Int($0) }) {
            guard body.count >= n else { throw Failure(description: "body truncated: \(body.count) of \(n)") }
            body = Array(body[..<n])
        }
        return Response(status: status, reason: statusParts.count > 2 ? String(statusParts[2]) : "",
                        headers: headers, body: body)
    }

    public static func dechunk(_ bytes: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while true {
            guard let lineEnd = find([13, 10], in: bytes, from: i) else { throw Failure(description: "bad chunk framing") }
            let sizeText = String(decoding: bytes[i..<lineEnd], as: UTF8.self).split(separator: ";")[0]
            guard let size = Int(sizeText, radix: 16) else { throw Failure(description: "bad chunk size \(sizeText)") }
            i = lineEnd + 2
            if size == 0 { return out }
            guard i + size <= bytes.count else { throw Failure(description: "chunk truncated") }
            out += bytes[i..<i + size]
            i += size + 2
        }
    }

    public static func find(_ needle: [UInt8], in hay: [UInt8], from start: Int) -> Int? {
        guard hay.count >= needle.count, start <= hay.count - needle.count else { return nil }
        for i in start...(hay.count - needle.count) where hay[i] == needle[0] {
            if Array(hay[i..<i + needle.count]) == needle { return i }
        }
        return nil
    }

    /// One TCP connection with blocking I/O and receive/send time-outs.
    public final class Connection {
        public let fd: Int32
        /// Whether `readToEnd` stopped because the server closed or reset the connection,
        /// rather than because the receive time-out passed.
        public private(set) var closedByPeer = false

        public init(host: String, port: Int, timeoutSeconds: Int, sourceHost: String? = nil) throws {
            #if canImport(Glibc)
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            #else
            fd = socket(AF_INET, SOCK_STREAM, 0)
            #endif
            guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
            var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            if let sourceHost {
                var local = Self.address(sourceHost, port: 0)
                let bound = withUnsafePointer(to: &local) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
                guard bound == 0 else {
                    let e = errno
                    sysClose(fd)
                    throw Failure(description: "bind to \(sourceHost): errno \(e)")
                }
            }
            var addr = Self.address(host, port: port)
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard rc == 0 else {
                let e = errno
                sysClose(fd)
                throw Failure(description: "connect to \(host):\(port): errno \(e)")
            }
        }

        private static func address(_ host: String, port: Int) -> sockaddr_in {
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, host, &addr.sin_addr)
            return addr
        }

        /// Returns false once the peer has stopped reading (it may already have answered).
        @discardableResult
        public func send(_ bytes: [UInt8]) -> Bool {
            var offset = 0
            while offset < bytes.count {
                let n = bytes[offset...].withUnsafeBytes { sysSend(fd, $0.baseAddress, $0.count) }
                if n <= 0 {
                    if n < 0 && errno == EINTR { continue }
                    return false
                }
                offset += n
            }
            return true
        }

        /// Everything until the peer closes, the time-out passes, or the connection resets.
        public func readToEnd() -> [UInt8] {
            var out: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n > 0 { out += buffer[..<n]; continue }
                if n < 0 && errno == EINTR { continue }
                closedByPeer = n == 0 || errno == ECONNRESET
                return out
            }
        }

        /// Whether the server has closed or reset the connection, without waiting.
        public func peerHasClosed() -> Bool {
            var byte: UInt8 = 0
            let n = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
            if n == 0 { return true }
            return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR
        }

        /// One response off a kept-alive connection: its head, then `Content-Length` bytes.
        public func readResponse() throws -> Response {
            var bytes: [UInt8] = []
            var byte: UInt8 = 0
            while TestHTTPClient.find([13, 10, 13, 10], in: bytes, from: max(0, bytes.count - 4)) == nil {
                guard recv(fd, &byte, 1, 0) == 1 else {
                    throw Failure(description: "connection ended after \(bytes.count) bytes of a response head")
                }
                bytes.append(byte)
            }
            let length = String(decoding: bytes, as: UTF8.self).split(separator: "\r\n")
                .first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.dropFirst("content-length:".count).filter { $0 != " " }) } ?? 0
            var body = [UInt8](repeating: 0, count: length)
            var got = 0
            while got < body.count {
                let n = body[got...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                guard n > 0 else { throw Failure(description: "body ended after \(got) of \(body.count) bytes") }
                got += n
            }
            return try TestHTTPClient.parse(bytes + body)
        }

        public func close() { sysClose(fd) }
    }
}

#if canImport(Glibc)
private func sysClose(_ fd: Int32) { _ = Glibc.close(fd) }
private func sysSend(_ fd: Int32, _ p: UnsafeRawPointer?, _ n: Int) -> Int { Glibc.send(fd, p, n, Int32(MSG_NOSIGNAL)) }
#else
private func sysClose(_ fd: Int32) { _ = Darwin.close(fd) }
private func sysSend(_ fd: Int32, _ p: UnsafeRawPointer?, _ n: Int) -> Int { Darwin.send(fd, p, n, 0) }
#endif

extension String {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        var s = self[...]
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}
