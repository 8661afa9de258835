#if canImport(Glibc)
import StepHTTP
import Glibc
#endif
import Foundation
import StepHTTPClient

/// The HTTP benchmark's transport baseline: a server that, per connection, reads `upload`
/// bytes and writes `download` bytes back, the cost of a step round trip's bytes over loopback
/// without HTTP, parsing or arithmetic.
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
        var addr = LoopbackSocket.address("127.0.0.1", port: 0)
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
            LoopbackSocket.close(c)
        }
    }

    /// One round trip from a client's side.
    func roundTrip(_ payload: UnsafeRawBufferPointer, sink: UnsafeMutableRawBufferPointer) throws {
        let c = try LoopbackSocket.connect(port: port)
        defer { LoopbackSocket.close(c) }
        try LoopbackSocket.sendAll(c, payload)
        try LoopbackSocket.readExactly(c, download, into: sink.baseAddress!)
    }
}
