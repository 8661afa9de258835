/// One snapshot file of one session, as its name describes it (see `SnapshotDirectory` for the
/// naming), so listing a session's snapshots for `GET .../snapshots` opens no file.
public struct SnapshotEntry: Sendable, Equatable, CustomStringConvertible {
    public let sessionID: String
    public let path: String
    /// Per-session counter, the order of writing: newer is larger, whatever the step or clock.
    public let sequence: Int
    /// The session's step counter when the snapshot was taken.
    public let step: Int
    /// Wall-clock time of writing, milliseconds since 1970 (informational).
    public let unixMillis: Int64
    public let byteCount: Int

    public init(sessionID: String, path: String, sequence: Int, step: Int, unixMillis: Int64, byteCount: Int) {
        self.sessionID = sessionID
        self.path = path
        self.sequence = sequence
        self.step = step
        self.unixMillis = unixMillis
        self.byteCount = byteCount
    }

    public var fileName: String { SnapshotWriter.split(path).name }

    public var description: String { path }

    static let prefix = "snapshot-"
    static let suffix = ".safetensors"

    static func fileName(sequence: Int, step: Int, unixMillis: Int64) -> String {
        "\(prefix)\(pad(sequence, 12))-step-\(pad(step, 12))-\(pad(Int(unixMillis), 13))\(suffix)"
    }

    /// What the temp file of snapshot `sequence` starts with (after its dot), before the step
    /// it holds, and so its name, is known.
    static func tempPrefix(sequence: Int) -> String {
        "\(prefix)\(pad(sequence, 12))\(suffix)"
    }

    /// (sequence, step, unixMillis) from a file name, or nil if it is not a snapshot's.
    static func parse(fileName name: String) -> (sequence: Int, step: Int, unixMillis: Int64)? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
        let core = name.dropFirst(prefix.count).dropLast(suffix.count)
        let parts = core.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[1] == "step",
              parts[0].allSatisfy(\.isASCIIDigit), parts[2].allSatisfy(\.isASCIIDigit),
              parts[3].allSatisfy(\.isASCIIDigit),
              let seq = Int(parts[0]), let step = Int(parts[2]), let ms = Int64(parts[3])
        else { return nil }
        return (seq, step, ms)
    }

    private static func pad(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
