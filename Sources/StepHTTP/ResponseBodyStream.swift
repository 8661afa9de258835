/// A response body written in pieces as the socket drains. `fill` is called with the offset
/// reached so far and a buffer to fill; it returns how many bytes it wrote, and 0 only at the
/// end. `release` runs exactly once when the body is done with, sent or not, so a producer
/// can hold a lock or a reference for the duration of the download and let go reliably.
public struct ResponseBodyStream: Sendable {
    /// The total size when known (sent as `Content-Length`); nil sends the body chunked.
    public let length: Int?
    public let fill: @Sendable (_ offset: Int, _ buffer: UnsafeMutableRawBufferPointer) throws -> Int
    public let release: @Sendable () -> Void

    public init(length: Int?,
                fill: @escaping @Sendable (_ offset: Int, _ buffer: UnsafeMutableRawBufferPointer) throws -> Int,
                release: @escaping @Sendable () -> Void = {}) {
        self.length = length
        self.fill = fill
        self.release = release
    }

    /// Runs the producer to its end into one array, then releases it.
    public func collect(chunkSize: Int = 64 * 1024) throws -> [UInt8] {
        defer { release() }
        var out: [UInt8] = []
        if let length { out.reserveCapacity(length) }
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        while length.map({ out.count < $0 }) ?? true {
            let want = min(chunkSize, length.map { $0 - out.count } ?? chunkSize)
            let n = try chunk.withUnsafeMutableBytes { try fill(out.count, UnsafeMutableRawBufferPointer(rebasing: $0[..<want])) }
            if n <= 0 { break }
            out.append(contentsOf: chunk[..<n])
        }
        return out
    }
}
