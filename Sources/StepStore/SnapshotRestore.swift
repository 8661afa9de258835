/// What restoring one session found: the newest snapshot that verified (and what loading it
/// produced), plus every newer file that was refused and why. The refusals are for the log;
/// `value == nil` means the session could not be restored at all and must be reported to the
/// operator, not dropped.
public struct SnapshotRestore<Value> {
    public let sessionID: String
    public let entry: SnapshotEntry?
    public let value: Value?
    public let rejected: [SnapshotRejection]

    public init(sessionID: String, entry: SnapshotEntry?, value: Value?, rejected: [SnapshotRejection]) {
        self.sessionID = sessionID
        self.entry = entry
        self.value = value
        self.rejected = rejected
    }

    public var isRestored: Bool { value != nil }
}

extension SnapshotRestore: Sendable where Value: Sendable {}

/// A snapshot file (or, with `entry == nil`, a whole session directory) that could not be used.
public struct SnapshotRejection: Sendable, CustomStringConvertible {
    public let sessionID: String
    public let entry: SnapshotEntry?
    public let reason: String

    public init(sessionID: String, entry: SnapshotEntry?, reason: String) {
        self.sessionID = sessionID
        self.entry = entry
        self.reason = reason
    }

    public var description: String {
        if let entry { return "\(entry.path): \(reason)" }
        return "session \(sessionID): \(reason)"
    }
}
