import StepJSON

/// A consistent copy of everything a session is, taken under its lock and then written to disk
/// or sent as a checkpoint without holding the lock.
public struct SessionImage: @unchecked Sendable {
    public var id: String
    public var config: JSONValue
    public var step: Int
    public var state: OptimizerState
    public var history: [StepRecord]
    /// The session's change counter when the copy was taken.
    public var version: UInt64

    public init(id: String, config: JSONValue, step: Int, state: OptimizerState, history: [StepRecord], version: UInt64) {
        self.id = id; self.config = config; self.step = step; self.state = state; self.history = history; self.version = version
    }
}
