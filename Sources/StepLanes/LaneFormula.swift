import CStepIntrinsics

/// An elementwise update written as what it does to eight lanes: the parameters `p` (in: the
/// old values, out: the new), the scaled gradient `g`, and up to three state streams. The loop
/// around it, `stream`, is shared by every formula, so a rule's file is its scalars and its
/// arithmetic (as llm.c's AdamW is twenty lines). The loop is also where the state's storage
/// type lives (`StateDType`): it hands the formula float32 lanes whatever the state is kept in,
/// and stores them back rounded (bf16) or requantized (q8), so a formula is written once.
/// `uses` is a constant of each formula type: after specialisation the loop loads and stores
/// exactly the streams the formula uses.
@usableFromInline package protocol LaneFormula: Sendable {
    /// How many of the state slots `s0`, `s1`, `s2` the formula reads and writes (the first ones).
    static var stateCount: Int { get }
    /// Whether slot `k` is read and written; `k < stateCount` unless a formula says otherwise.
    static func uses(_ k: Int) -> Bool
    func lanes(_ p: inout Lanes, _ g: Lanes, _ s0: inout Lanes, _ s1: inout Lanes, _ s2: inout Lanes)
}

extension LaneFormula {
    @inlinable @inline(__always)
    package static func uses(_ k: Int) -> Bool { k < stateCount }

    /// Updates `range` of `b` in one pass. Reached through `LaneRule.update` (StepKernels).
    @inlinable @inline(__always)
    package func stream<Copy: CompiledCopy>(_ b: LaneBuffers, gradScale: Float, range: Range<Int>, _ copy: Copy.Type) -> UpdateStats {
        switch b.dtype {
        case .f32: streamElements(b, gradScale: gradScale, range: range, Float32Codec.self, copy)
        case .bf16: streamElements(b, gradScale: gradScale, range: range, BFloat16Codec.self, copy)
        case .q8: streamBlocks(b, gradScale: gradScale, range: range, copy)
        }
    }

    /// float32 or bfloat16 state: whole vectors, then one zero-padded tail running the very same
    /// arithmetic, so results do not depend on where a range is cut.
    @inlinable @inline(__always)
    func streamElements<Codec: LaneCodec, Copy: CompiledCopy>(_ b: LaneBuffers, gradScale: Float, range: Range<Int>,
                                                              _: Codec.Type, _: Copy.Type) -> UpdateStats {
        let P = UnsafeMutableRawPointer(b.params), G = UnsafeRawPointer(b.grads)
        let S0 = Self.uses(0) ? b.s0!.base : P, S1 = Self.uses(1) ? b.s1!.base : P, S2 = Self.uses(2) ? b.s2!.base : P
        var stats = StatsAccumulator()
        var i = range.lowerBound
        let end = range.upperBound
        while i + 8 <= end {
            let o = i * 4
            let old = P.loadUnaligned(fromByteOffset: o, as: Lanes.self)
            var p = old
            var s0 = Self.uses(0) ? Codec.load(S0, i) : Lanes()
            var s1 = Self.uses(1) ? Codec.load(S1, i) : Lanes()
            var s2 = Self.uses(2) ? Codec.load(S2, i) : Lanes()
            lanes(&p, G.loadUnaligned(fromByteOffset: o, as: Lanes.self) * gradScale, &s0, &s1, &s2)
            P.storeBytes(of: p, toByteOffset: o, as: Lanes.self)
            if Self.uses(0) && Self.uses(1) {
                Codec.store(s0, S0, s1, S1, i)
            } else {
                if Self.uses(0) { Codec.store(s0, S0, i) }
                if Self.uses(1) { Codec.store(s1, S1, i) }
            }
            if Self.uses(2) { Codec.store(s2, S2, i) }
            stats.add(old: old, new: p)
            i += 8
        }
        if i < end {
            let n = end - i
            let old = Lanes.load(b.params, i, n)
            var p = old
            var s0 = Self.uses(0) ? Codec.load(S0, i, n) : Lanes()
            var s1 = Self.uses(1) ? Codec.load(S1, i, n) : Lanes()
            var s2 = Self.uses(2) ? Codec.load(S2, i, n) : Lanes()
            lanes(&p, Lanes.load(b.grads, i, n) * gradScale, &s0, &s1, &s2)
            p.store(b.params, i, n)
            if Self.uses(0) { Codec.store(s0, S0, i, n) }
            if Self.uses(1) { Codec.store(s1, S1, i, n) }
            if Self.uses(2) { Codec.store(s2, S2, i, n) }
            stats.add(old: old, new: p, valid: n)
        }
        return stats.stats
    }

    /// q8 state, one block of 256 elements at a time while it is in cache: dequantize each
    /// vector, run the formula, keep the new state in a 1 KiB scratch per slot and its running
    /// absmax in a register; at the block's end write the new absmax and requantize the scratch.
    /// `range` starts on a block boundary (counted from `b.blockOrigin`).
    @inlinable @inline(__always)
    func streamBlocks<Copy: CompiledCopy>(_ b: LaneBuffers, gradScale: Float, range: Range<Int>, _: Copy.Type) -> UpdateStats {
        let vectors = QuantizationMap.blockSize / 8
        return withUnsafeTemporaryAllocation(of: Lanes.self, capacity: 3 * vectors) { scratch -> UpdateStats in
            let T0 = scratch.baseAddress!, T1 = T0 + vectors, T2 = T1 + vectors
            let P = UnsafeMutableRawPointer(b.params), G = UnsafeRawPointer(b.grads)
            var stats = StatsAccumulator()
            var start = range.lowerBound
            let end = range.upperBound
            while start < end {
                let blockEnd = min(end, start + QuantizationMap.blockSize)
                let block = (start - b.blockOrigin) / QuantizationMap.blockSize
                let scale0 = Self.uses(0) ? b.s0!.absmax![block] : 0
                let scale1 = Self.uses(1) ? b.s1!.absmax![block] : 0
                let scale2 = Self.uses(2) ? b.s2!.absmax![block] : 0
                var max0 = Lanes(), max1 = Lanes(), max2 = Lanes()
                var i = start, v = 0
                while i < blockEnd {
                    let n = min(8, blockEnd - i)
                    let old = n == 8 ? P.loadUnaligned(fromByteOffset: i * 4, as: Lanes.self) : Lanes.load(b.params, i, n)
                    let g = n == 8 ? G.loadUnaligned(fromByteOffset: i * 4, as: Lanes.self) : Lanes.load(b.grads, i, n)
                    var p = old
                    var s0 = Self.uses(0) ? b.s0!.dequantize(i, n, scale0) : Lanes()
                    var s1 = Self.uses(1) ? b.s1!.dequantize(i, n, scale1) : Lanes()
                    var s2 = Self.uses(2) ? b.s2!.dequantize(i, n, scale2) : Lanes()
                    lanes(&p, g * gradScale, &s0, &s1, &s2)
                    if n == 8 { P.storeBytes(of: p, toByteOffset: i * 4, as: Lanes.self) } else { p.store(b.params, i, n) }
                    if Self.uses(0) { T0[v] = s0; max0 = StateSlot.absMax(max0, s0, valid: n) }
                    if Self.uses(1) { T1[v] = s1; max1 = StateSlot.absMax(max1, s1, valid: n) }
                    if Self.uses(2) { T2[v] = s2; max2 = StateSlot.absMax(max2, s2, valid: n) }
                    stats.add(old: old, new: p, valid: n)
                    i += 8
                    v += 1
                }
                if Self.uses(0) { b.s0!.requantize(T0, start..<blockEnd, block: block, absmax: max0.max()) }
                if Self.uses(1) { b.s1!.requantize(T1, start..<blockEnd, block: block, absmax: max1.max()) }
                if Self.uses(2) { b.s2!.requantize(T2, start..<blockEnd, block: block, absmax: max2.max()) }
                start = blockEnd
            }
            return stats.stats
        }
    }
}

/// How a stretch of float32 or bfloat16 state becomes eight float32 lanes and back.
@usableFromInline package protocol LaneCodec {
    static func load(_ base: UnsafeMutableRawPointer, _ i: Int) -> Lanes
    static func store(_ x: Lanes, _ base: UnsafeMutableRawPointer, _ i: Int)
    /// Two streams' vectors at the same index (a rule's first two state slots).
    static func store(_ x: Lanes, _ xBase: UnsafeMutableRawPointer, _ y: Lanes, _ yBase: UnsafeMutableRawPointer, _ i: Int)
    /// The first `valid` lanes (fewer than eight: a range's tail), the rest zero.
    static func load(_ base: UnsafeMutableRawPointer, _ i: Int, _ valid: Int) -> Lanes
    static func store(_ x: Lanes, _ base: UnsafeMutableRawPointer, _ i: Int, _ valid: Int)
}

@usableFromInline package enum Float32Codec: LaneCodec {
    @inlinable @inline(__always)
    package static func load(_ base: UnsafeMutableRawPointer, _ i: Int) -> Lanes { base.loadUnaligned(fromByteOffset: i * 4, as: Lanes.self) }
    @inlinable @inline(__always)
    package static func store(_ x: Lanes, _ base: UnsafeMutableRawPointer, _ i: Int) { base.storeBytes(of: x, toByteOffset: i * 4, as: Lanes.self) }
    @inlinable @inline(__always)
    package static func store(_ x: Lanes, _ xBase: UnsafeMutableRawPointer, _ y: Lanes, _ yBase: UnsafeMutableRawPointer, _ i: Int) {
        store(x, xBase, i)
        store(y, yBase, i)
    }
    @inlinable @inline(__always)
    package static func load(_ base: UnsafeMutableRawPointer, _ i: Int, _ valid: Int) -> Lanes {
        Lanes.load(base.assumingMemoryBound(to: Float.self), i, valid)
    }
    @inlinable @inline(__always)
    package static func store(_ x: Lanes, _ base: UnsafeMutableRawPointer, _ i: Int, _ valid: Int) {
        x.store(base.assumingMemoryBound(to: Float.self), i, valid)
    }
}

/// bfloat16 is the top half of a float32: widening is a shift, narrowing rounds to nearest even
/// (a NaN stays a quiet NaN), as torch's `.to(torch.bfloat16)`.
@usableFromInline package enum BFloat16Codec: LaneCodec {
    @inlinable @inline(__always)
    package static func load(_ base: UnsafeMutableRawPointer, _ i: Int) -> Lanes { stepd_bf16_widen8(base + i * 2) }
    @inlinable @inline(__always)
    package static func store(_ x: Lanes, _ base: UnsafeMutableRawPointer, _ i: Int) { stepd_bf16_narrow8(x, base + i * 2) }
    /// Rounds both with one NaN test and one pack (`stepd_bf16_narrow8x2`): the bf16 loop is
    /// bound by instructions, and Adam-like rules keep two moments.
    @inlinable @inline(__always)
    package static func store(_ x: Lanes, _ xBase: UnsafeMutableRawPointer, _ y: Lanes, _ yBase: UnsafeMutableRawPointer, _ i: Int) {
        stepd_bf16_narrow8x2(x, y, xBase + i * 2, yBase + i * 2)
    }
    @inlinable @inline(__always)
    package static func load(_ base: UnsafeMutableRawPointer, _ i: Int, _ valid: Int) -> Lanes {
        var h: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &h) { $0.baseAddress!.copyMemory(from: base + i * 2, byteCount: valid * 2) }
        return withUnsafeBytes(of: &h) { stepd_bf16_widen8($0.baseAddress!) }
    }
    @inlinable @inline(__always)
    package static func store(_ x: Lanes, _ base: UnsafeMutableRawPointer, _ i: Int, _ valid: Int) {
        var h: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &h) { stepd_bf16_narrow8(x, $0.baseAddress!) }
        withUnsafeBytes(of: &h) { (base + i * 2).copyMemory(from: $0.baseAddress!, byteCount: valid * 2) }
    }
}

extension StateSlot {
    /// Elements `i..<i+valid` of q8 state (the rest of the lanes zero): `map[code] * absmax`.
    @inlinable @inline(__always)
    func dequantize(_ i: Int, _ valid: Int, _ scale: Float) -> Lanes {
        if valid == 8 { return stepd_q8_dequantize8((base + i).assumingMemoryBound(to: UInt8.self), map.values, scale) }
        var codes: UInt64 = 0
        withUnsafeMutableBytes(of: &codes) { $0.baseAddress!.copyMemory(from: base + i, byteCount: valid) }
        let x = withUnsafeBytes(of: &codes) { stepd_q8_dequantize8($0.baseAddress!.assumingMemoryBound(to: UInt8.self), map.values, scale) }
        return x.replacing(with: 0, where: Lanes.laneIndex .>= Int32(valid))
    }

    /// The running absmax of a block, with `x`'s first `valid` lanes. NaN is passed over, as
    /// bitsandbytes' `fmax` does.
    @inlinable @inline(__always)
    static func absMax(_ m: Lanes, _ x: Lanes, valid: Int) -> Lanes {
        var a = unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: Lanes.self)
        if valid < 8 { a = a.replacing(with: 0, where: Lanes.laneIndex .>= Int32(valid)) }
        return m.replacing(with: a, where: a .> m)
    }

    /// Stores block `block` (elements `elements`, whose new values are in `values`) as codes of
    /// `value / newMax`, and `newMax` itself. An all-zero block divides by 1 instead of 0.
    @inlinable @inline(__always)
    func requantize(_ values: UnsafePointer<Lanes>, _ elements: Range<Int>, block: Int, absmax newMax: Float) {
        absmax![block] = newMax
        map.quantize(UnsafeRawPointer(values).assumingMemoryBound(to: Float.self), count: elements.count, dividedBy: newMax > 0 ? newMax : 1,
                     into: (base + elements.lowerBound).assumingMemoryBound(to: UInt8.self))
    }
}

extension SIMD8 where Scalar == Float {
    /// 0...7, for masking the lanes past a short block's end.
    @inlinable @inline(__always)
    static var laneIndex: SIMD8<Int32> { SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7) }
}
