import StepHTTP

/// A tenant's share of the server, from its keys' `max_sessions` and `max_param_bytes`,
/// checked by the registry at create and replace time, before anything is allocated, on top
/// of the server-wide `--max-sessions` and `--max-param-bytes`. Nil means no tenant limit.
public struct TenantQuota: Sendable, Equatable {
    public var maxSessions: Int?
    /// Parameters + optimizer state + gradient buffers over the tenant's sessions (the same
    /// measure as `--max-param-bytes`).
    public var maxParamBytes: Int?

    public init(maxSessions: Int? = nil, maxParamBytes: Int? = nil) {
        self.maxSessions = maxSessions
        self.maxParamBytes = maxParamBytes
    }

    public static let unlimited = TenantQuota()
}
