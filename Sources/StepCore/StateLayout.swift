/// Where each optimizer state tensor lives: one buffer per state name (a "role"), holding the
/// pieces of the parameters that keep it, in declared order. For a session of one elementwise
/// optimizer every parameter keeps every role with its own shape, so a role's buffer lines up
/// with the parameters' (the same offsets). A parameter keeps a role when its group's optimizer
/// declares it, in the shape that optimizer gives it (Adafactor's `row_var` is one number per
/// row); which roles a session allocates is decided by whether some group of that optimizer
/// uses them (AdamW's `max_exp_avg_sq` only with amsgrad).
public struct StateLayout: Sendable, Equatable {
    public struct Piece: Sendable, Equatable {
        public let offset: Int
        public let shape: [Int]
        public let count: Int
    }

    public struct Role: Sendable, Equatable {
        public let name: String
        /// Per parameter tensor, in declared order; nil where that tensor does not keep it.
        public let pieces: [Piece?]
        public let count: Int
    }

    /// Every role some group's optimizer declares, used or not (a PATCH turning amsgrad off
    /// keeps its buffer, and a checkpoint may carry it).
    public let all: [Role]
    /// The names of the roles the session allocates.
    public let used: [String]

    init(groups: [ParamGroup], layout: TensorLayout) {
        var names: [String] = [], used: [String] = []
        var seen: Set<ObjectIdentifier> = []
        for g in groups where seen.insert(ObjectIdentifier(g.kind)).inserted {
            let same = groups.filter { ObjectIdentifier($0.kind) == ObjectIdentifier(g.kind) }.map(\.hyper)
            for name in g.kind.slotNames where !names.contains(name) { names.append(name) }
            for (_, name) in g.kind.usedState(same) where !used.contains(name) { used.append(name) }
        }
        all = names.map { name in
            var offset = 0
            let pieces = layout.tensors.map { t -> Piece? in
                guard let shape = groups[t.group].kind.stateShape(name, for: t.shape) else { return nil }
                let count = shape.reduce(1, *)
                defer { offset += count }
                return Piece(offset: offset, shape: shape, count: count)
            }
            return Role(name: name, pieces: pieces, count: offset)
        }
        self.used = names.filter { used.contains($0) }
    }

    public func role(_ name: String) -> Role? { all.first { $0.name == name } }

    /// Elements of the roles in use.
    public var usedCount: Int { used.reduce(0) { $0 + (role($1)?.count ?? 0) } }
}
