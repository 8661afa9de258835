/// A copy-free, consistent read of a whole session, for writing it to disk: the small parts
/// (config, step, history tail, scalars, pending contributions' bookkeeping) are copied under the
/// session lock, and `image`'s buffers are the session's OWN live buffers, not copies. Their bytes
/// may be read only inside `whileUnchanged` (one block at a time, under the session lock, if the
/// session is still at `image.version`) or inside `Session.withExclusiveSnapshot` (under the lock
/// throughout). So a writer that reads every block through one of those produces the session at
/// one version or fails, never a mix of two steps, and no second copy of the state is ever made.
///
/// `Session.snapshot()` and `withExclusiveSnapshot` make these; see `SnapshotManager` for the
/// two ways they are used (optimistic, block by block; then, if a change landed, exclusive).
public struct SessionSnapshot: @unchecked Sendable {
    /// Buffers borrowed from the session: see above.
    public let image: SessionImage
    let session: Session?

    /// Why a block could not be read: the session changed (or was retired) since `image` was
    /// taken, so what was read so far belongs to an older version and must be thrown away.
    public struct Changed: Error, Sendable, CustomStringConvertible {
        public let id: String
        public let version: UInt64
        public var description: String { "session \"\(id.prefix(80))\" changed during the snapshot (it was at version \(version))" }
    }

    init(image: SessionImage, session: Session?) {
        self.image = image
        self.session = session
    }

    /// Runs `body`, which reads some of `image`'s buffers, under the session lock if the session
    /// is still at `image.version`; otherwise throws `Changed` and does not run it. Inside
    /// `Session.withExclusiveSnapshot` the lock is already held and `body` just runs.
    public func whileUnchanged<R>(_ body: () throws -> R) throws -> R {
        guard let session else { return try body() }
        return try session.whileAt(version: image.version, body)
    }
}

extension Session {
    /// The session as it is now, for a copy-free snapshot (see `SessionSnapshot`), or nil once
    /// it is retired: the check and the capture are one critical section, so a snapshot racing
    /// a DELETE cannot write the session back.
    public func snapshot(historyTail: Int = 1000) -> SessionSnapshot? {
        withLock { retired in retired ? nil : SessionSnapshot(image: liveImageLocked(historyTail: historyTail), session: self) }
    }

    /// Runs `body` with the session as it is now, holding the session lock for the whole call:
    /// nothing changes it meanwhile (steps, PUTs and PATCHes wait, and so do reads), so `body`
    /// may read `image`'s buffers freely and `whileUnchanged` just runs its blocks. Returns nil,
    /// without calling `body`, once the session is retired. For the snapshot that must succeed
    /// when the optimistic one was overtaken by a step: keep `body` to the writing, and do the
    /// slow part (fsync) after it returns.
    public func withExclusiveSnapshot<R>(historyTail: Int = 1000, _ body: (SessionSnapshot) throws -> R) rethrows -> R? {
        try withLock { retired in
            retired ? nil : try body(SessionSnapshot(image: liveImageLocked(historyTail: historyTail), session: nil))
        }
    }
}
