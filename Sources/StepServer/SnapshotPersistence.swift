import StepHTTP
import StepCore
import StepStore

/// Durability through StepStore's snapshot manager.
public struct SnapshotPersistence: SessionPersistence {
    public let manager: SnapshotManager

    public init(manager: SnapshotManager) { self.manager = manager }

    public func sessionCreated(_ session: Session) throws { try manager.created(session) }
    public func sessionChanged(_ session: Session) throws { try manager.changed(session) }
    public func sessionDeleted(_ id: String, movedAway: MovedAway?) { manager.deleted(id, movedAway: movedAway) }
    public func moveChanged(_ session: Session) throws { try manager.moveChanged(session) }

    public func snapshotNow(_ session: Session) throws -> [String: String] {
        let e = try manager.snapshotNow(session)
        return Self.info(e)
    }

    public func snapshots(of id: String) -> [[String: String]] {
        manager.list(id).map(Self.info)
    }

    /// The file's name, not its path: where the data directory is stays in the operator's log.
    private static func info(_ e: SnapshotEntry) -> [String: String] {
        ["session": e.sessionID, "step": String(e.step), "file": e.fileName, "sequence": String(e.sequence),
         "unix_ms": String(e.unixMillis)]
    }

    public var storageProblem: String? { manager.storageProblem }
}

extension SnapshotManager.Failure: HTTPErrorConvertible {
    /// The rule for clients when the disk fails (README, "Durability"): a change that was
    /// applied in memory but could not be made durable when durability was promised is
    /// answered 507 with the step it reached; a retry with the same Idempotency-Key applies
    /// nothing again and retries the snapshot.
    public var httpError: HTTPError {
        var extra = HTTPError.insufficientStorage("").problem.extra
        extra["step"] = .number(Double(step))
        return HTTPError(.insufficientStorage,
                         detail: "applied in memory at step \(step) but not durable: \(reason)", extra: extra)
    }
}
