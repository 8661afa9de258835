/// What a key may do, within the sessions it can see (`Principal.canSee`).
public enum Role: String, Sendable, CaseIterable {
    /// Sees and changes every tenant's sessions; reads `/metrics` when a keys file is in use.
    case admin
    /// Creates, steps, changes and deletes its own tenant's sessions.
    case trainer
    /// Only reads its own tenant's sessions: a write is 403, since it may know they exist.
    case reader

    public var canWrite: Bool { self != .reader }
}
