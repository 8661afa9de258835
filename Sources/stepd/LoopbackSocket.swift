#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Plain TCP over loopback for the HTTP benchmark: a client that sends a request and reads a
/// Content-Length response, and the baseline server that moves the same bytes with no HTTP.
enum LoopbackSocket {
    struct Failure: Error, CustomStringConvertible { let description: String }

    static func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else { close(fd); throw Failure(description: "connect to port \(port): \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }

    static func sendAll(_ fd: Int32, _ p: UnsafeRawBufferPointer) throws {
        var sent = 0
        while sent < p.count {
            let n = send(fd, p.baseAddress! + sent, p.count - sent, Int32(MSG_NOSIGNAL))
            guard n > 0 else { throw Failure(description: "send: \(String(cString: strerror(errno)))") }
            sent += n
        }
    }

    /// Reads exactly `count` bytes into `into` (which must hold them).
    static func readExactly(_ fd: Int32, _ count: Int, into: UnsafeMutableRawPointer) throws {
        var got = 0
        while got < count {
            let n = recv(fd, into + got, count - got, 0)
            guard n > 0 else { throw Failure(description: "recv: connection closed after \(got) of \(count) bytes") }
            got += n
        }
    }

    /// One HTTP/1.1 request on a fresh connection; returns status and body length, with the
    /// body read into `sink` (reused between calls so reading costs no allocation).
    static func http(port: Int, _ method: String, _ path: String, headers: [String: String] = [:],
                     body: UnsafeRawBufferPointer? = nil, sink: UnsafeMutableRawBufferPointer) throws -> (status: Int, length: Int) {
        let fd = try connect(port: port)
        defer { close(fd) }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        head += "Content-Length: \(body?.count ?? 0)\r\n\r\n"
        try Array(head.utf8).withUnsafeBytes { try sendAll(fd, $0) }
        if let body { try sendAll(fd, body) }
        // Read the head byte by byte up to the blank line (small), then the body in bulk.
        var headBytes: [UInt8] = []
        var c: UInt8 = 0
        while !(headBytes.count >= 4 && headBytes.suffix(4).elementsEqual([13, 10, 13, 10])) {
            guard recv(fd, &c, 1, 0) == 1 else { throw Failure(description: "connection closed in the response head") }
            headBytes.append(c)
        }
        let text = String(decoding: headBytes, as: UTF8.self)
        let status = Int(text.split(separator: " ")[1]) ?? 0
        var length = 0
        for line in text.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
            length = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
        }
        guard length <= sink.count else { throw Failure(description: "response of \(length) bytes is over the sink") }
        try readExactly(fd, length, into: sink.baseAddress!)
        return (status, length)
    }

    /// A server that, per connection, reads `upload` bytes and writes `download` bytes back:
    /// the transport cost of a step round trip without HTTP, parsing or arithmetic.
    final class EchoServer: @unchecked Sendable {
        let port: Int
        private let fd: Int32
        private let upload: Int, download: Int

        init(upload: Int, download: Int) throws {
            self.upload = upload
            self.download = download
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            self.fd = fd
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            listen(fd, 16)
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
            port = Int(UInt16(bigEndian: addr.sin_port))
            let thread = Thread { [self] in serve() }
            thread.start()
        }

        private func serve() {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(upload, download), alignment: 64)
            buffer.initializeMemory(as: UInt8.self, repeating: 1)
            while true {
                let c = accept(fd, nil, nil)
                guard c >= 0 else { return }
                try? LoopbackSocket.readExactly(c, upload, into: buffer.baseAddress!)
                try? LoopbackSocket.sendAll(c, UnsafeRawBufferPointer(rebasing: buffer[..<download]))
                close(c)
            }
        }

        /// One round trip from a client's side.
        func roundTrip(_ payload: UnsafeRawBufferPointer, sink: UnsafeMutableRawBufferPointer) throws {
            let c = try LoopbackSocket.connect(port: port)
            defer { close(c) }
            try LoopbackSocket.sendAll(c, payload)
            try LoopbackSocket.readExactly(c, download, into: sink.baseAddress!)
        }
    }
}
