import Foundation

/// The server's memory limit (`--max-param-bytes`) as one counter that every holder of a large
/// buffer draws from: each session's parameters, state and gradient buffer, and every extra
/// buffer a request holds while it is in flight (a second concurrent upload to one session, a
/// copy of the parameters for a PUT, a collected safetensors body). Without the extras, a dozen
/// concurrent uploads could take several times the limit.
public final class ByteBudget: @unchecked Sendable {
    public let limit: Int
    private let lock = NSLock()
    private var used = 0

    public init(limit: Int) { self.limit = limit }

    /// Takes `bytes` if they fit under the limit; false (taking nothing) if not.
    public func reserve(_ bytes: Int) -> Bool {
        lock.withLock {
            guard bytes <= limit - used else { return false }
            used += bytes
            return true
        }
    }

    /// Takes `bytes` whatever the limit: for what was accepted before (sessions restored at
    /// start-up), which must be counted but cannot be refused.
    public func forceReserve(_ bytes: Int) { lock.withLock { used += bytes } }

    public func release(_ bytes: Int) { lock.withLock { used -= bytes } }

    public var inUse: Int { lock.withLock { used } }
}
