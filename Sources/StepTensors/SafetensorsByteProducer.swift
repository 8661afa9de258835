/// The bytes of a safetensors file served by offset, for an HTTP layer that pulls a response
/// in pieces (libmicrohttpd's content reader asks "give me up to n bytes at position p"). It
/// reads straight from the tensors' buffers, so streaming a checkpoint of any size costs only
/// the header in memory. Same borrowing contract as `SafetensorsWriter`.
public struct SafetensorsByteProducer: @unchecked Sendable {
    let header: [UInt8]
    let sources: [UnsafeRawBufferPointer]
    /// File offset at which each source ends, ascending, for the binary search in `read`.
    let ends: [Int]

    public let size: Int

    init(header: [UInt8], sources: [UnsafeRawBufferPointer]) {
        self.header = header
        self.sources = sources
        var ends: [Int] = []
        var at = header.count
        for s in sources {
            at += s.count
            ends.append(at)
        }
        self.ends = ends
        self.size = at
    }

    /// Copies the file's bytes starting at `offset` into `buffer`, as many as fit or remain;
    /// returns how many (0 at or past the end). Safe to call from several threads at once.
    public func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard offset >= 0, offset < size, let dst = buffer.baseAddress, buffer.count > 0 else { return 0 }
        let total = min(buffer.count, size - offset)
        var done = 0
        var pos = offset
        if pos < header.count {
            let n = min(header.count - pos, total)
            header.withUnsafeBytes { h in dst.copyMemory(from: h.baseAddress! + pos, byteCount: n) }
            done += n
            pos += n
        }
        guard done < total else { return done }
        // First source whose end lies beyond `pos`; zero-length sources are skipped naturally.
        var lo = 0, hi = ends.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if ends[mid] > pos { hi = mid } else { lo = mid + 1 }
        }
        var i = lo
        while done < total, i < sources.count {
            let start = ends[i] - sources[i].count
            let within = pos - start
            let n = min(sources[i].count - within, total - done)
            if n > 0 {
                (dst + done).copyMemory(from: sources[i].baseAddress! + within, byteCount: n)
                done += n
                pos += n
            }
            i += 1
        }
        return done
    }
}
