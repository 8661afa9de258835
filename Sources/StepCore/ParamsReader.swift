import StepKernels

/// A consistent, copy-free download of parameters: see `Session.paramsReader(names:)`.
public struct ParamsReader: Sendable {
    let session: Session
    public let tensors: [TensorSpec]
    /// The optimizer's view being read (nil: the parameters themselves).
    public let view: String?
    /// The step the parameters belong to (the download's ETag).
    public let step: Int
    let version: UInt64

    /// The wire type: float32, or bf16/f16 narrowed (round to nearest even) on the way out.
    public var dtype: GradientDType = .f32

    public var byteCount: Int { tensors.reduce(0) { $0 + $1.count * dtype.byteWidth } }

    /// Fills `buffer` from byte `offset`; returns the bytes written (0 at the end).
    public func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(SessionError) -> Int {
        guard dtype != .f32 else { return try session.readParams(tensors, view: view, version: version, at: offset, into: buffer) }
        // Whole 16-bit values covering the bytes asked for, from their float32 originals.
        let total = byteCount / 2
        let first = offset / 2, end = min(total, (offset + buffer.count + 1) / 2)
        guard first < end else { return 0 }
        let n = end - first
        return try withUnsafeTemporaryAllocation(of: Float.self, capacity: n) { floats throws(SessionError) -> Int in
            let got = try session.readParams(tensors, view: view, version: version, at: first * 4,
                                             into: UnsafeMutableRawBufferPointer(floats))
            let values = got / 4
            return withUnsafeTemporaryAllocation(of: UInt16.self, capacity: values) { halves in
                HalfPrecision.narrow(floats.baseAddress!, to: UnsafeMutableRawPointer(halves.baseAddress!), count: values, bfloat: dtype == .bf16)
                let skip = offset - first * 2
                let bytes = min(buffer.count, values * 2 - skip)
                buffer.baseAddress!.copyMemory(from: UnsafeRawPointer(halves.baseAddress!) + skip, byteCount: bytes)
                return bytes
            }
        }
    }
}
