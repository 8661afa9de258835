#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The cores this process may run on: the width of a step's thread split and the number of
/// HTTP worker threads. A container pinned to some CPUs (`docker run --cpuset-cpus`, taskset)
/// sees the machine's online count in `_SC_NPROCESSORS_ONLN`; the affinity mask is what counts.
public enum ProcessorCount {
    public static var active: Int {
        let online = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        if let allowed = affinityCount(), allowed > 0 { return min(online, allowed) }
        return online
    }

    /// Bits set in `Cpus_allowed` of /proc/self/status (sched_getaffinity needs _GNU_SOURCE,
    /// which Swift's Glibc module is built without); nil where there is no such file.
    static func affinityCount() -> Int? {
        guard let file = fopen("/proc/self/status", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 4096)
        let key = Array("Cpus_allowed:".utf8)
        while fgets(&line, Int32(line.count), file) != nil {
            let bytes = line.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }
            guard bytes.starts(with: key) else { continue }
            var count = 0
            for c in bytes.dropFirst(key.count) {
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): count += Int(c - UInt8(ascii: "0")).nonzeroBitCount
                case UInt8(ascii: "a")...UInt8(ascii: "f"): count += Int(c - UInt8(ascii: "a") + 10).nonzeroBitCount
                default: continue
                }
            }
            return count
        }
        return nil
    }
}
