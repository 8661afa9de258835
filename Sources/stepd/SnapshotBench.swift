import StepHTTP
import ArgumentParser
import Foundation
import StepCore
import StepJSON
import StepKernels
import StepStore
#if canImport(Glibc)
import Glibc
#endif

/// `stepd bench snapshot`: a snapshot and a restore of a large AdamW session, each next to what
/// the disk itself does with the same bytes in the same directory, measured in the same round:
///
/// - snapshot vs a plain write + fsync of as many bytes (1 MiB writes from one hot buffer, as
///   `dd bs=1M conv=fsync` does): the bound for anything that makes those bytes durable;
/// - restore vs a plain read of as many bytes (1 MiB reads into one buffer), both cold-ish: each
///   file is read right after it was written, its pages dropped from the page cache first
///   (`posix_fadvise(DONTNEED)` after the fsync), so both read from the device, or whatever
///   cache sits below the guest;
/// - the process's peak resident memory while the snapshot is taken (`VmHWM`, reset through
///   `/proc/self/clear_refs` just before) against its resident memory at rest (`VmRSS`).
///
/// Rounds alternate which pair goes first; ratios are taken within a round, and their median
/// and range printed, because these shared machines drift.
struct SnapshotBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "snapshot", abstract: "Snapshot and restore of a large AdamW session next to a plain write+fsync and a cold read of the same bytes.")

    @Option(help: "Parameters of the session.") var params = 50_000_000
    @Option(help: "Directory to write into (default: a temporary directory; the disk matters).") var dir: String?
    @Option(help: "Rounds; medians and ranges are printed.") var repeats = 5
    @Flag(help: "Also print every round's seconds.") var verbose = false

    func run() throws {
        let root = dir ?? NSTemporaryDirectory() + "stepd-snapshot-bench-\(getpid())"
        defer { if dir == nil { try? FileManager.default.removeItem(atPath: root) } }
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let body: JSONValue = ["optimizer": ["type": "adamw", "lr": 1e-3],
                               "params": [["name": "w", "shape": [.number(Double(params))], "init": ["type": "normal", "std": 0.02, "seed": 1]]]]
        let (config, inits) = try SessionConfig.parse(body)
        let session = Session(id: "bench", config: config, inits: inits)
        // Random gradients, so the optimizer state is as varied as in training (a constant
        // gradient would make exp_avg and exp_avg_sq constant, and a disk that compresses or
        // deduplicates would flatter the snapshot).
        var random = SplitMix64(seed: 2)
        try (0..<params).map { _ in Float(random.unit() - 0.5) * 2e-3 }.withUnsafeBytes { grads in
            let upload = try session.beginUpload(dtype: .f32)
            try upload.write(grads)
            _ = try session.submit(upload)
        }
        let manager = SnapshotManager(directory: SnapshotDirectory(dataDirectory: root, keep: 1), defaults: .init(everySteps: 0, intervalSeconds: 0))
        let boundPath = "\(root)/plain-write-bound"
        defer { unlink(boundPath) }
        let steady = Memory.resident()

        var snapshot: [Double] = [], write: [Double] = [], restore: [Double] = [], read: [Double] = []
        var peaks: [Int] = []
        var peakWasReset = true
        var bytes = 0
        for round in 0..<max(1, repeats) {
            // stepd's pair (snapshot, then restore of that file) and the plain pair (write +
            // fsync, then read of that file), each file read right after it was written, so both
            // reads meet the same caches below the guest (this VM's host caches recent writes:
            // a read that comes after another file's read was up to 6x slower). The pairs take
            // turns going first; the plain pair needs the snapshot's size, so round 0 starts
            // with stepd's.
            func stepdPair() throws {
                Plain.settle()
                peakWasReset = Memory.resetPeak() && peakWasReset
                let t0 = Date()
                let entry = try manager.snapshotNow(session)
                snapshot.append(Date().timeIntervalSince(t0))
                peaks.append(Memory.peak())
                bytes = entry.byteCount
                try Plain.dropCache(entry.path)
                Plain.settle()
                let t1 = Date()
                let (sessions, _, problems) = manager.restoreAll(parallel: .machine)
                restore.append(Date().timeIntervalSince(t1))
                guard sessions.count == 1, problems.isEmpty, sessions[0].step == session.step else {
                    throw ValidationError("restore failed: \(problems)")
                }
            }
            func plainPair() throws {
                Plain.settle()
                write.append(try Plain.writeAndSync(boundPath, bytes: bytes))
                try Plain.dropCache(boundPath)
                Plain.settle()
                read.append(try Plain.read(boundPath))
            }
            if round % 2 == 0 {
                try stepdPair()
                try plainPair()
            } else {
                try plainPair()
                try stepdPair()
            }
        }
        let mb = Double(bytes) / 1e6
        let snapshotOfBound = zip(write, snapshot).map { $0 / $1 }
        let restoreOfBound = zip(read, restore).map { $0 / $1 }
        let peakOfSteady = peaks.map { Double($0) / Double(steady) }
        func pct(_ xs: [Double]) -> String { "\(fmt(100 * median(xs), 0))% (\(fmt(100 * xs.min()!, 0))–\(fmt(100 * xs.max()!, 0)))" }
        func rate(_ xs: [Double]) -> String { "\(fmt(median(xs), 2)) s, \(fmt(mb / median(xs), 0)) MB/s" }
        print("AdamW session, \(params) params, snapshot file \(fmt(mb, 0)) MB in \(root), \(snapshot.count) rounds (medians; ranges over rounds):")
        print("  snapshot (write, CRC-32C, fsync, rename, fsync dir):  \(rate(snapshot))")
        print("  plain write + fsync of as many bytes, same directory: \(rate(write))")
        print("    snapshot at \(pct(snapshotOfBound)) of the plain write's bandwidth")
        print("  restore (read, verify CRC, load, cold cache):         \(rate(restore))")
        print("  plain read of as many bytes, cold cache:              \(rate(read))")
        print("    restore at \(pct(restoreOfBound)) of the plain read's bandwidth")
        if verbose {
            func list(_ xs: [Double]) -> String { xs.map { fmt($0, 2) }.joined(separator: " ") }
            print("  per round (s): snapshot \(list(snapshot))\n                 write    \(list(write))\n                 restore  \(list(restore))\n                 read     \(list(read))")
        }
        print("  resident memory: steady \(fmt(Double(steady) / 1e9, 2)) GB, peak during a snapshot \(fmt(Double(peaks.sorted()[peaks.count / 2]) / 1e9, 2)) GB"
              + " = \(fmt(median(peakOfSteady), 3))x (\(fmt(peakOfSteady.min()!, 3))–\(fmt(peakOfSteady.max()!, 3)))\(peakWasReset ? "" : " [peak since start: /proc/self/clear_refs refused]")")
    }
}

/// The yardsticks: what the disk does with the same number of bytes without stepd's format.
private enum Plain {
    static let chunk = 1 << 20

    /// Writes `bytes` bytes in 1 MiB writes from one buffer to a new file at `path`, fsyncs,
    /// closes; returns seconds. Like a snapshot, it makes a new file (the old one is removed
    /// first, untimed) of bytes that do not repeat: the buffer is random and every 4 KiB of it
    /// is stamped with its position before it is written, so no layer below can deduplicate.
    static func writeAndSync(_ path: String, bytes: Int) throws -> Double {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 4096)
        defer { buffer.deallocate() }
        var random = SplitMix64(seed: UInt64(bytes))
        for i in stride(from: 0, to: chunk, by: 8) { buffer.storeBytes(of: random.next(), toByteOffset: i, as: UInt64.self) }
        unlink(path)
        sync()
        let t0 = Date()
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ValidationError("open \(path): errno \(errno)") }
        defer { close(fd) }
        var at = 0
        while at < bytes {
            for page in stride(from: 0, to: chunk, by: 4096) { buffer.storeBytes(of: UInt64(at + page), toByteOffset: page, as: UInt64.self) }
            let n = Glibc.write(fd, buffer.baseAddress!, min(chunk, bytes - at))
            guard n > 0 else { throw ValidationError("write \(path): errno \(errno)") }
            at += n
        }
        guard fsync(fd) == 0 else { throw ValidationError("fsync \(path): errno \(errno)") }
        return Date().timeIntervalSince(t0)
    }

    /// Reads the whole file in 1 MiB reads into one buffer; returns seconds.
    static func read(_ path: String) throws -> Double {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 4096)
        defer { buffer.deallocate() }
        let t0 = Date()
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ValidationError("open \(path): errno \(errno)") }
        defer { close(fd) }
        while true {
            let n = Glibc.read(fd, buffer.baseAddress!, chunk)
            guard n >= 0 else { throw ValidationError("read \(path): errno \(errno)") }
            if n == 0 { break }
        }
        return Date().timeIntervalSince(t0)
    }

    /// Lets the file system finish what earlier operations left (journal commits, the discards
    /// of freed blocks: this ext4 is mounted with `discard`), so they are not billed to the next.
    static func settle() {
        sync()
        usleep(300_000)
    }

    /// Drops a written (and fsynced, so clean) file's pages from the page cache.
    static func dropCache(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ValidationError("open \(path): errno \(errno)") }
        defer { close(fd) }
        _ = fdatasync(fd)
        _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED))
    }
}

/// This process's resident memory from /proc (Linux; 0 elsewhere).
private enum Memory {
    static func status(_ key: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
            let kb = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) } ?? 0
            return kb * 1024
        }
        return 0
    }

    static func resident() -> Int { status("VmRSS") }
    static func peak() -> Int { status("VmHWM") }

    /// Makes VmHWM start again from the current resident size (Linux 4.0+); false if refused.
    static func resetPeak() -> Bool {
        let fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return Glibc.write(fd, "5", 1) == 1
    }
}
