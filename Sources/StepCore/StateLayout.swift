import StepKernels

/// Where each optimizer state tensor lives, and how it is stored: one buffer per state name (a
/// "role"), holding the pieces of the parameters that keep it, in declared order. A parameter
/// keeps a role when its group's optimizer declares it, in the shape that optimizer gives it
/// (Adafactor's `row_var` is one number per row), and in its group's `state_dtype`, except that
/// q8 keeps tensors under `QuantizationMap.minimumElements` in float32, as bitsandbytes does
/// (their state is a rounding error of the memory, and their moments are the noisiest). A q8
/// piece is the codes, then the absmax of each block at the next 4-byte boundary. Which roles
/// a session allocates is decided by whether some group of that optimizer uses them (AdamW's
/// `max_exp_avg_sq` only with amsgrad).
///
/// Pieces of one dtype follow each other without a gap, so the float32 state of a session of
/// one elementwise optimizer is one float array indexed like the parameters; a q8 piece, and a
/// change of dtype, starts on a cache line.
public struct StateLayout: Sendable, Equatable {
    public struct Piece: Sendable, Equatable {
        public let shape: [Int]
        public let count: Int
        public let dtype: StateDType
        public let byteOffset: Int
        /// q8: byte offset of the first block's absmax.
        public let absmaxOffset: Int
        public var blocks: Int { dtype == .q8 ? (count + QuantizationMap.blockSize - 1) / QuantizationMap.blockSize : 0 }
        public var byteCount: Int { dtype == .q8 ? absmaxOffset - byteOffset + blocks * 4 : count * dtype.elementBytes }

        init(shape: [Int], count: Int, dtype: StateDType, byteOffset: Int, absmaxOffset: Int) {
            self.shape = shape
            self.count = count
            self.dtype = dtype
            self.byteOffset = byteOffset
            self.absmaxOffset = absmaxOffset
        }

        /// A tensor's state alone in a buffer of its own (a benchmark's or a test's).
        public init(shape: [Int], dtype: StateDType) {
            let count = shape.reduce(1, *)
            self.init(shape: shape, count: count, dtype: dtype, byteOffset: 0, absmaxOffset: dtype == .q8 ? (count + 3) / 4 * 4 : 0)
        }
    }

    public struct Role: Sendable, Equatable {
        public let name: String
        /// The 8-bit map its q8 pieces are kept in (the descriptor's; `.signed` where it names none).
        public let map: QuantizationMap
        /// Per parameter tensor, in declared order; nil where that tensor does not keep it.
        public let pieces: [Piece?]
        public let byteCount: Int
    }

    /// Every role some group's optimizer declares, used or not (a PATCH turning amsgrad off
    /// keeps its buffer, and a checkpoint may carry it).
    public let all: [Role]
    /// The names of the roles the session allocates.
    public let used: [String]

    /// A run of neighbouring tensors of one group and one dtype whose pieces lie back to back in
    /// every role: one lane-kernel call covers a run. A q8 tensor is a run of its own (its
    /// blocks count from its first element).
    public struct Run: Sendable, Equatable {
        /// Session element indices.
        public let range: Range<Int>
        public let group: Int
        public let dtype: StateDType
        /// The run's first tensor.
        public let first: Int
    }
    public let runs: [Run]

    init(groups: [ParamGroup], layout: TensorLayout) {
        var names: [String] = [], used: [String] = [], maps: [String: QuantizationMap] = [:]
        var seen: Set<ObjectIdentifier> = []
        for g in groups where seen.insert(ObjectIdentifier(g.kind)).inserted {
            let same = groups.filter { ObjectIdentifier($0.kind) == ObjectIdentifier(g.kind) }.map(\.hyper)
            for name in g.kind.slotNames where !names.contains(name) {
                names.append(name)
                maps[name] = g.kind.map(of: name)
            }
            for (_, name) in g.kind.usedState(same) where !used.contains(name) { used.append(name) }
        }
        let dtypes = layout.tensors.map { t -> StateDType in
            let d = groups[t.group].stateDType
            return d == .q8 && t.count < QuantizationMap.minimumElements ? .f32 : d
        }
        all = names.map { name in
            var bytes = 0
            var previous: StateDType? = nil
            let pieces = zip(layout.tensors, dtypes).map { t, d -> Piece? in
                guard let shape = groups[t.group].kind.stateShape(name, for: t.shape) else { return nil }
                let count = shape.reduce(1, *)
                // State of another shape than the parameter's is a tensor rule's, kept in float32.
                let dtype = shape == t.shape ? d : .f32
                if dtype == .q8 || previous.map({ $0 != dtype }) ?? false { bytes = (bytes + 63) / 64 * 64 }
                let absmax = dtype == .q8 ? (bytes + count + 3) / 4 * 4 : bytes
                let piece = Piece(shape: shape, count: count, dtype: dtype, byteOffset: bytes, absmaxOffset: absmax)
                bytes += piece.byteCount
                if count > 0 { previous = dtype }
                return piece
            }
            return Role(name: name, map: maps[name] ?? .signed, pieces: pieces, byteCount: bytes)
        }
        self.used = names.filter { used.contains($0) }

        var runs: [Run] = []
        for (i, t) in layout.tensors.enumerated() where t.count > 0 {
            if let last = runs.last, last.group == t.group, last.dtype == dtypes[i], dtypes[i] != .q8,
               last.range.upperBound == t.offset, Self.adjacent(all, last.first, last.range.count, i) {
                runs[runs.count - 1] = Run(range: last.range.lowerBound..<t.range.upperBound, group: t.group, dtype: dtypes[i], first: last.first)
            } else {
                runs.append(Run(range: t.range, group: t.group, dtype: dtypes[i], first: i))
            }
        }
        self.runs = runs
    }

    /// Whether tensor `next` continues, in every role, the run of `count` elements that starts
    /// at tensor `first`.
    private static func adjacent(_ roles: [Role], _ first: Int, _ count: Int, _ next: Int) -> Bool {
        roles.allSatisfy { role in
            switch (role.pieces[first], role.pieces[next]) {
            case (nil, nil): true
            case let (a?, b?): a.byteOffset + count * a.dtype.elementBytes == b.byteOffset
            default: false
            }
        }
    }

    public func role(_ name: String) -> Role? { all.first { $0.name == name } }

    /// True when every piece is float32.
    public var isFloat32: Bool { all.allSatisfy { $0.pieces.allSatisfy { $0 == nil || $0!.dtype == .f32 } } }

    /// Bytes of the roles in use.
    public var usedByteCount: Int { used.reduce(0) { $0 + (role($1)?.byteCount ?? 0) } }

    /// Whether `other` places the same roles in the same shapes (its dtypes may differ: a
    /// PATCH of `state_dtype` converts the state, a change of shapes would orphan it).
    public func sameShapes(as other: StateLayout) -> Bool {
        all.count == other.all.count && zip(all, other.all).allSatisfy { a, b in
            a.name == b.name && a.pieces.map { $0?.shape } == b.pieces.map { $0?.shape }
        }
    }
}

extension StateLayout.Role {
    /// The first byte of tensor `tensor`'s piece in `buffer`, nil where it keeps none.
    public func bytes(_ buffer: AlignedBuffer, tensor: Int) -> UnsafeMutableRawPointer? {
        pieces[tensor].map { UnsafeMutableRawPointer(buffer.pointer) + $0.byteOffset }
    }

    /// A q8 piece's absmax per block in `buffer`; nil for other dtypes.
    public func absmax(_ buffer: AlignedBuffer, tensor: Int) -> UnsafeMutablePointer<Float>? {
        guard let p = pieces[tensor], p.dtype == .q8 else { return nil }
        return (UnsafeMutableRawPointer(buffer.pointer) + p.absmaxOffset).assumingMemoryBound(to: Float.self)
    }

    /// A float32 piece (a tensor rule's state) in `buffer`.
    public func floats(_ buffer: AlignedBuffer, tensor: Int) -> UnsafeMutablePointer<Float>? {
        guard let p = pieces[tensor] else { return nil }
        precondition(p.dtype == .f32, "tensor rules keep float32 state")
        return (UnsafeMutableRawPointer(buffer.pointer) + p.byteOffset).assumingMemoryBound(to: Float.self)
    }
}

extension StateLayout.Run {
    /// The run's slot of `role` in `buffer`: element i of the session (i in `range`) at
    /// `slot.base + i * dtype.elementBytes`, and a q8 run's absmax. Nil where the run's tensors
    /// do not keep the role.
    func slot(_ role: StateLayout.Role, in buffer: AlignedBuffer) -> StateSlot? {
        guard let piece = role.pieces[first] else { return nil }
        let origin = UnsafeMutableRawPointer(buffer.pointer) + piece.byteOffset - range.lowerBound * dtype.elementBytes
        return StateSlot(origin, absmax: role.absmax(buffer, tensor: first), map: role.map)
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
