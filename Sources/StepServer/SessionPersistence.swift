import StepHTTP
import StepCore

/// What the HTTP layer tells durability about. StepServer calls these after a change has been
/// applied and before it answers, so an implementation that must be durable before the client
/// hears back (`snapshot.every_steps: 1`) can block here, and one that snapshots in the
/// background just takes note.
public protocol SessionPersistence: Sendable {
    func sessionCreated(_ session: Session) throws
    /// After a step, a parameter replacement or a PATCH.
    func sessionChanged(_ session: Session) throws
    /// `movedAway`: the session was frozen for a move, which this deletion completes.
    func sessionDeleted(_ id: String, movedAway: MovedAway?)
    /// After a move began or was cancelled (`Session.movingTo`); durable before it returns.
    func moveChanged(_ session: Session) throws
    /// A snapshot now (`POST /v1/sessions/{id}/snapshots`); returns a description of it.
    func snapshotNow(_ session: Session) throws -> [String: String]
    /// The snapshots on disk for a session, newest first.
    func snapshots(of id: String) -> [[String: String]]
    /// A line for /healthz when storage is in trouble (a full or unwritable disk), else nil.
    var storageProblem: String? { get }
}

/// No persistence: sessions live only in memory (tests, `--data-dir ''`).
public struct InMemoryOnly: SessionPersistence {
    public init() {}
    public func sessionCreated(_ session: Session) throws {}
    public func sessionChanged(_ session: Session) throws {}
    public func sessionDeleted(_ id: String, movedAway: MovedAway?) {}
    public func moveChanged(_ session: Session) throws {}
    public func snapshotNow(_ session: Session) throws -> [String: String] {
        throw HTTPError(.conflict, detail: "this server keeps sessions in memory only (started without a data directory)")
    }
    public func snapshots(of id: String) -> [[String: String]] { [] }
    public var storageProblem: String? { nil }
}
