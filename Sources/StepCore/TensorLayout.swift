/// Where each named tensor lives in the session's flat buffers, in declared order. The declared
/// order is also the order of raw binary bodies (`application/octet-stream`).
public struct TensorSpec: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public let count: Int
    /// Index into `SessionConfig.groups`; 0 is the optimizer's own settings.
    public let group: Int

    public var range: Range<Int> { offset..<(offset + count) }
}

public struct TensorLayout: Sendable, Equatable {
    public let tensors: [TensorSpec]
    public let count: Int
    /// Name to position: a body names every tensor, so a linear search per name would make a
    /// many-tensor model's step quadratic in its tensor count.
    private let index: [String: Int]

    public init(_ specs: [(name: String, shape: [Int], group: Int)]) {
        var tensors: [TensorSpec] = []
        var offset = 0
        for s in specs {
            let n = s.shape.reduce(1, *)
            tensors.append(TensorSpec(name: s.name, shape: s.shape, offset: offset, count: n, group: s.group))
            offset += n
        }
        self.tensors = tensors
        count = offset
        index = Dictionary(tensors.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public func tensor(named name: String) -> TensorSpec? { index[name].map { tensors[$0] } }

    /// Values per tensor, in declared order: how a gradient's norm is summed.
    public var counts: [Int] { tensors.map(\.count) }

    public static func == (a: TensorLayout, b: TensorLayout) -> Bool { a.tensors == b.tensors }
}
