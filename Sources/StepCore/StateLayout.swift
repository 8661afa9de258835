import StepKernels

/// Where each tensor's optimizer state lies in one state buffer, and in which dtype. Every state
/// tensor of a session (exp_avg, exp_avg_sq, ...) has the same layout: one buffer of
/// `byteCount` bytes holding each tensor's span in declared order. A tensor takes its group's
/// `state_dtype`, except that q8 keeps tensors under `QuantizationMap.minimumElements` in
/// float32, as bitsandbytes does (their state is a rounding error of the memory, and their
/// moments are the noisiest). A q8 span is the codes, then the absmax of each block at the next
/// 4-byte boundary. With one dtype everywhere (f32 or bf16) the buffer is one array indexed
/// like the parameters.
public struct StateLayout: Sendable, Equatable {
    public struct Span: Sendable, Equatable {
        public let dtype: StateDType
        /// The tensor's first element in the session's flat order, and its element count.
        public let offset: Int
        public let count: Int
        public let byteOffset: Int
        /// q8: byte offset of the first block's absmax.
        public let absmaxOffset: Int
        public var blocks: Int { dtype == .q8 ? (count + QuantizationMap.blockSize - 1) / QuantizationMap.blockSize : 0 }
        public var byteCount: Int { dtype == .q8 ? absmaxOffset - byteOffset + blocks * 4 : count * dtype.elementBytes }
    }

    /// One per tensor, in declared order.
    public let spans: [Span]
    public let byteCount: Int

    /// A run of neighbouring tensors one kernel call covers: same group, same dtype, adjacent in
    /// the buffer. A q8 tensor is a run of its own (its blocks count from its first element).
    public struct Run: Sendable, Equatable {
        public let range: Range<Int>
        public let group: Int
        public let dtype: StateDType
        /// The span of the run's first tensor.
        public let first: Span
    }
    public let runs: [Run]

    public init(_ layout: TensorLayout, dtypes groupDTypes: [StateDType]) {
        var spans: [Span] = []
        var runs: [Run] = []
        var bytes = 0
        var previous: (group: Int, dtype: StateDType)? = nil
        for t in layout.tensors {
            var dtype = groupDTypes[t.group]
            if dtype == .q8 && t.count < QuantizationMap.minimumElements { dtype = .f32 }
            // Spans of one dtype follow each other without a gap (so float32 state is one float
            // array indexed like the parameters); a q8 span, and a change of dtype, starts on a
            // cache line.
            let contiguous = previous.map { $0.dtype == dtype && dtype != .q8 } ?? (dtype != .q8)
            let continues = contiguous && previous?.group == t.group
            if !contiguous { bytes = (bytes + 63) / 64 * 64 }
            let absmax = dtype == .q8 ? (bytes + t.count + 3) / 4 * 4 : bytes
            let span = Span(dtype: dtype, offset: t.offset, count: t.count, byteOffset: bytes, absmaxOffset: absmax)
            spans.append(span)
            bytes += span.byteCount
            if t.count > 0 {
                if continues, let last = runs.last, last.range.upperBound == t.offset {
                    runs[runs.count - 1] = Run(range: last.range.lowerBound..<t.range.upperBound, group: t.group, dtype: dtype, first: last.first)
                } else {
                    runs.append(Run(range: t.range, group: t.group, dtype: dtype, first: span))
                }
                previous = (t.group, dtype)
            }
        }
        self.spans = spans
        self.runs = runs
        byteCount = bytes
    }

    /// True when every tensor keeps float32 state (the buffer is then a plain float array).
    public var isFloat32: Bool { spans.allSatisfy { $0.dtype == .f32 } }
}

extension StateLayout.Run {
    /// The run's state slot in a buffer starting at `base`: element i of the session (i in
    /// `range`) at `slot.base + i * dtype.elementBytes`, and a q8 run's absmax.
    func slot(in base: UnsafeMutableRawPointer, map: QuantizationMap) -> StateSlot {
        let origin = base + first.byteOffset - first.offset * dtype.elementBytes
        let absmax = dtype == .q8 ? (base + first.absmaxOffset).assumingMemoryBound(to: Float.self) : nil
        return StateSlot(origin, absmax: absmax, map: map)
    }

    /// The part of `range` a kernel call for chunk `chunk` covers. A q8 run is cut only at its
    /// block boundaries: the chunk takes the blocks that start inside it, whole, so a block's
    /// absmax is found by one call whatever the thread count.
    func part(of chunk: Range<Int>) -> Range<Int>? {
        let lo = max(chunk.lowerBound, range.lowerBound), hi = min(chunk.upperBound, range.upperBound)
        guard lo < hi else { return nil }
        guard dtype == .q8 else { return lo..<hi }
        let b = QuantizationMap.blockSize
        func up(_ i: Int) -> Int { range.lowerBound + (i - range.lowerBound + b - 1) / b * b }
        let start = up(lo), end = min(range.upperBound, up(hi))
        return start < end ? start..<end : nil
    }
}
