import StepCore
import StepHTTP

/// The registry's memory budget is what collected request bodies draw from.
extension ByteBudget: BodyMemoryBudget {
    public var state: String {
        "--max-param-bytes, \(limit) bytes, of which sessions and requests in flight hold \(inUse) bytes"
    }
}
