/// One tensor as a safetensors header describes it. `dataOffsets` is relative to the start of
/// the byte buffer (as in the file), so it stays valid whether the bytes are read from disk, a
/// memory map or an HTTP body; `SafetensorsHeader.dataStart` turns it into a file offset.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: SafetensorsDType
    public let shape: [Int]
    public let dataOffsets: Range<Int>

    public init(name: String, dtype: SafetensorsDType, shape: [Int], dataOffsets: Range<Int>) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.dataOffsets = dataOffsets
    }

    /// The number of elements; 1 for a scalar (shape `[]`), 0 if any dimension is 0.
    public var elementCount: Int { shape.reduce(1, *) }

    public var byteCount: Int { dataOffsets.count }

    /// The byte size `shape` and `dtype` call for, or nil if it overflows (a hostile header).
    static func expectedByteCount(shape: [Int], dtype: SafetensorsDType) -> Int? {
        var n = dtype.byteSize
        for d in shape {
            guard d >= 0 else { return nil }
            let (p, o) = n.multipliedReportingOverflow(by: d)
            if o { return nil }
            n = p
        }
        return n
    }
}
