/// The last `capacity` step records, oldest first. A ring buffer: a long run keeps a bounded
/// tail instead of growing without end.
public struct StepHistory: Sendable {
    public let capacity: Int
    private var storage: [StepRecord] = []
    private var start = 0
    /// Records ever appended, including those that fell off the front.
    public private(set) var total = 0

    public init(capacity: Int) { self.capacity = max(1, capacity) }

    /// A restored history: `records` (oldest first) as the newest kept, and `total` as the count
    /// ever appended, so a poller's `after` cursor stays valid across a restart or a move.
    public init(capacity: Int, records: [StepRecord], total: Int) {
        self.init(capacity: capacity)
        for r in records { append(r) }
        self.total = max(self.total, total)
    }

    public mutating func append(_ r: StepRecord) {
        total += 1
        if storage.count < capacity {
            storage.append(r)
        } else {
            storage[start] = r
            start = (start + 1) % capacity
        }
    }

    public var count: Int { storage.count }

    /// The newest `n` records (all if nil), oldest first.
    public func last(_ n: Int? = nil) -> [StepRecord] {
        let ordered = Array(storage[start...] + storage[..<start])
        guard let n else { return ordered }
        return Array(ordered.suffix(max(0, n)))
    }

    /// The kept records appended after the first `sequence` ever appended, oldest first: a
    /// client that has seen `total` records asks for what came since without counting steps,
    /// which a skipped request (it keeps the step number) would make ambiguous. A `sequence` at
    /// or past `total` gives none; one before the oldest kept record gives all that are kept.
    public func records(after sequence: Int) -> [StepRecord] {
        last(min(count, max(0, total - sequence)))
    }

    /// A history with a new capacity, keeping the newest records.
    public func resized(to capacity: Int) -> StepHistory {
        var h = StepHistory(capacity: capacity)
        for r in last(capacity) { h.append(r) }
        h.total = total
        return h
    }
}
