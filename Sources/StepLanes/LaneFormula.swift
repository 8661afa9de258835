/// An elementwise update written as what it does to eight lanes: the parameters `p` (in: the
/// old values, out: the new), the scaled gradient `g`, and up to two state streams. The loop
/// around it, whole vectors and then one zero-padded tail, is `stream`, shared by every
/// formula, so a rule's file is its scalars and its arithmetic (as llm.c's AdamW is twenty
/// lines). `stateCount` is a constant of each formula type: after specialisation the loop
/// loads and stores exactly the streams the formula uses.
@usableFromInline package protocol LaneFormula: Sendable {
    /// How many of the state slots `s0`, `s1` the formula reads and writes.
    static var stateCount: Int { get }
    func lanes(_ p: inout Lanes, _ g: Lanes, _ s0: inout Lanes, _ s1: inout Lanes)
}

extension LaneFormula {
    /// Updates `range` of `b` in one pass. Reached through `LaneRule.update` (StepKernels).
    @inlinable @inline(__always)
    package func stream<Copy: CompiledCopy>(_ b: LaneBuffers, gradScale: Float, range: Range<Int>, _ copy: Copy.Type) -> UpdateStats {
        let count = Self.stateCount
        let P = UnsafeMutableRawPointer(b.params), G = UnsafeRawPointer(b.grads)
        let S0 = count > 0 ? UnsafeMutableRawPointer(b.s0!) : P, S1 = count > 1 ? UnsafeMutableRawPointer(b.s1!) : P
        var stats = StatsAccumulator()
        var i = range.lowerBound
        let end = range.upperBound
        while i + 8 <= end {
            let o = i * 4
            let old = P.loadUnaligned(fromByteOffset: o, as: Lanes.self)
            var p = old
            var s0 = count > 0 ? S0.loadUnaligned(fromByteOffset: o, as: Lanes.self) : Lanes()
            var s1 = count > 1 ? S1.loadUnaligned(fromByteOffset: o, as: Lanes.self) : Lanes()
            lanes(&p, G.loadUnaligned(fromByteOffset: o, as: Lanes.self) * gradScale, &s0, &s1)
            P.storeBytes(of: p, toByteOffset: o, as: Lanes.self)
            if count > 0 { S0.storeBytes(of: s0, toByteOffset: o, as: Lanes.self) }
            if count > 1 { S1.storeBytes(of: s1, toByteOffset: o, as: Lanes.self) }
            stats.add(old: old, new: p)
            i += 8
        }
        if i < end {
            let n = end - i
            let old = Lanes.load(b.params, i, n)
            var p = old
            var s0 = count > 0 ? Lanes.load(b.s0!, i, n) : Lanes()
            var s1 = count > 1 ? Lanes.load(b.s1!, i, n) : Lanes()
            lanes(&p, Lanes.load(b.grads, i, n) * gradScale, &s0, &s1)
            p.store(b.params, i, n)
            if count > 0 { s0.store(b.s0!, i, n) }
            if count > 1 { s1.store(b.s1!, i, n) }
            stats.add(old: old, new: p, valid: n)
        }
        return stats.stats
    }
}
