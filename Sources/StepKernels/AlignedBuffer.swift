/// One contiguous, 64-byte aligned float32 buffer: a tensor role (params, grads, exp_avg, ...)
/// of a whole session lives in one of these, so a step is a few long streams and SIMD loads
/// never straddle a cache line at the start of a buffer.
public final class AlignedBuffer: @unchecked Sendable {
    public static let alignment = 64
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(count: Int, filledWith value: Float = 0) {
        precondition(count >= 0, "AlignedBuffer count must be >= 0, got \(count)")
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: AlignedBuffer.alignment)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: value, count: count)
    }

    /// A buffer whose values are whatever the memory held, for a caller that writes every one
    /// of them before anything reads it: a restore reading a file straight into it. Its pages
    /// are then first touched by that write (which the kernel overlaps with reading ahead) and
    /// not by a zero fill before it, which on a VM, where first touches are slow, costs as much
    /// as reading the file.
    public init(uninitializedCount count: Int) {
        precondition(count >= 0, "AlignedBuffer count must be >= 0, got \(count)")
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: AlignedBuffer.alignment)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { pointer.update(from: base, count: values.count) }
        }
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }
    public var byteCount: Int { count * 4 }

    public func copy() -> AlignedBuffer {
        let other = AlignedBuffer(count: count)
        other.pointer.update(from: pointer, count: count)
        return other
    }

    public func fill(_ value: Float) { pointer.update(repeating: value, count: count) }

    public var array: [Float] { Array(buffer) }
}
