#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A minimal HTTP/1.1 client over plain TCP to a server on this machine: one request per
/// connection (`Connection: close`), no TLS, no keep-alive, no redirects. It is what
/// `stepd bench http` (bodies read into a caller's buffer, so a timed loop allocates nothing)
/// and the conformance replay over a socket (whole responses) need, and the socket calls the
/// benchmark's raw-TCP baseline is built on.
public enum LoopbackSocket {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// How long one send or receive may block before the request fails, so that a server that
    /// stops answering fails a run instead of hanging it.
    public static let timeoutSeconds = 120

    public static func connect(port: Int, host: String = "127.0.0.1") throws -> Int32 {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw Failure("socket: \(lastError())") }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = address(host, port: port)
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sysConnect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard ok == 0 else {
            let why = lastError()
            sysClose(fd)
            throw Failure("connect to \(host):\(port): \(why)")
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }

    /// An IPv4 address with a port (`port` 0: any, for binding).
    public static func address(_ host: String, port: Int) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &addr.sin_addr)
        return addr
    }

    public static func close(_ fd: Int32) { sysClose(fd) }

    public static func sendAll(_ fd: Int32, _ p: UnsafeRawBufferPointer) throws {
        var sent = 0
        while sent < p.count {
            let n = sysSend(fd, p.baseAddress! + sent, p.count - sent)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Failure("send: \(lastError())") }
            sent += n
        }
    }

    /// Reads exactly `count` bytes into `into` (which must hold them).
    public static func readExactly(_ fd: Int32, _ count: Int, into: UnsafeMutableRawPointer) throws {
        var got = 0
        while got < count {
            let n = recv(fd, into + got, count - got, 0)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Failure("recv: \(n == 0 ? "connection closed" : lastError()) after \(got) of \(count) bytes") }
            got += n
        }
    }

    /// One request on a fresh connection; the whole response. The body may come with a
    /// `Content-Length`, chunked, or delimited by the server closing the connection.
    public static func request(port: Int, _ method: String, _ target: String, headers: [(String, String)] = [],
                               body: [UInt8]? = nil) throws -> HTTPClientResponse {
        let fd = try connect(port: port)
        defer { sysClose(fd) }
        if let body {
            try body.withUnsafeBytes { try sendRequest(fd, method, target, headers, body: $0) }
        } else {
            try sendRequest(fd, method, target, headers, body: nil)
        }
        let head = try readHead(fd)
        var rest = head.rest
        var response = HTTPClientResponse(status: head.status, headers: head.headers, body: [])
        if response[header: "Transfer-Encoding"]?.lowercased() == "chunked" {
            rest += try readToEnd(fd)
            response.body = try dechunk(rest)
        } else if let text = response[header: "Content-Length"] {
            guard let length = Int(text), length >= 0 else { throw Failure("bad Content-Length \(text)") }
            if rest.count < length {
                let have = rest.count
                rest += [UInt8](repeating: 0, count: length - have)
                try rest.withUnsafeMutableBytes { try readExactly(fd, length - have, into: $0.baseAddress! + have) }
            }
            response.body = Array(rest.prefix(length))
        } else {
            response.body = rest + (try readToEnd(fd))
        }
        return response
    }

    /// One request on a fresh connection whose `Content-Length` body is read into `sink`
    /// (reused between calls so that reading costs no allocation); returns status and body length.
    public static func http(port: Int, _ method: String, _ target: String, headers: [(String, String)] = [],
                            body: UnsafeRawBufferPointer? = nil, sink: UnsafeMutableRawBufferPointer) throws -> (status: Int, length: Int) {
        let fd = try connect(port: port)
        defer { sysClose(fd) }
        try sendRequest(fd, method, target, headers, body: body)
        let (status, fields, rest) = try readHead(fd)
        guard let text = fields.first(where: { $0.name.lowercased() == "content-length" })?.value, let length = Int(text) else {
            throw Failure("\(method) \(target): the response has no Content-Length")
        }
        guard length <= sink.count else { throw Failure("response of \(length) bytes is over the sink") }
        let early = min(rest.count, length)
        if early > 0 { rest.withUnsafeBytes { sink.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: early) } }
        try readExactly(fd, length - early, into: sink.baseAddress! + early)
        return (status, length)
    }

    private static func sendRequest(_ fd: Int32, _ method: String, _ target: String, _ headers: [(String, String)],
                                    body: UnsafeRawBufferPointer?) throws {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        head += "Content-Length: \(body?.count ?? 0)\r\n\r\n"
        try Array(head.utf8).withUnsafeBytes { try sendAll(fd, $0) }
        if let body, body.count > 0 { try sendAll(fd, body) }
    }

    /// Reads up to the blank line ending the response head; returns the parsed head and the
    /// body bytes that arrived with it.
    private static func readHead(_ fd: Int32) throws -> (status: Int, headers: [(name: String, value: String)], rest: [UInt8]) {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        var from = 0
        while true {
            if let end = find([13, 10, 13, 10], in: bytes, from: max(0, from - 3)) {
                let lines = String(decoding: bytes[..<end], as: UTF8.self).split(separator: "\r\n")
                let parts = lines.first?.split(separator: " ", maxSplits: 2) ?? []
                guard parts.count >= 2, let status = Int(parts[1]) else {
                    throw Failure("bad status line: \(lines.first.map(String.init) ?? "")")
                }
                var fields: [(name: String, value: String)] = []
                for line in lines.dropFirst() {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    fields.append((String(line[..<colon]), String(line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" })))
                }
                return (status, fields, Array(bytes[(end + 4)...]))
            }
            guard bytes.count < 1 << 16 else { throw Failure("response head over 64 KiB") }
            from = bytes.count
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Failure("recv: \(n == 0 ? "connection closed" : lastError()) in the response head after \(bytes.count) bytes") }
            bytes += chunk[..<n]
        }
    }

    private static func readToEnd(_ fd: Int32) throws -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return out }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Failure("recv: \(lastError()) after \(out.count) body bytes") }
            out += chunk[..<n]
        }
    }

    private static func dechunk(_ bytes: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while true {
            guard let lineEnd = find([13, 10], in: bytes, from: i) else { throw Failure("bad chunk framing") }
            let sizeText = String(decoding: bytes[i..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingSpaces, radix: 16) else { throw Failure("bad chunk size \(sizeText)") }
            i = lineEnd + 2
            if size == 0 { return out }
            guard i + size <= bytes.count else { throw Failure("chunk truncated") }
            out += bytes[i..<(i + size)]
            i += size + 2
        }
    }

    private static func find(_ needle: [UInt8], in hay: [UInt8], from start: Int) -> Int? {
        guard hay.count >= needle.count, start <= hay.count - needle.count else { return nil }
        for i in start...(hay.count - needle.count) where hay[i] == needle[0] {
            if hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
        }
        return nil
    }

    private static func lastError() -> String { String(cString: strerror(errno)) }
}

extension Substring {
    fileprivate var trimmingSpaces: String { String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()) }
}

#if canImport(Glibc)
private func sysConnect(_ fd: Int32, _ a: UnsafePointer<sockaddr>, _ n: socklen_t) -> Int32 { Glibc.connect(fd, a, n) }
private func sysClose(_ fd: Int32) { _ = Glibc.close(fd) }
private func sysSend(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { Glibc.send(fd, p, n, Int32(MSG_NOSIGNAL)) }
#else
private func sysConnect(_ fd: Int32, _ a: UnsafePointer<sockaddr>, _ n: socklen_t) -> Int32 { Darwin.connect(fd, a, n) }
private func sysClose(_ fd: Int32) { _ = Darwin.close(fd) }
private func sysSend(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { Darwin.send(fd, p, n, 0) }
#endif
