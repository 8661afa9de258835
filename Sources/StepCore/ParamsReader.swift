/// A consistent, copy-free download of parameters: see `Session.paramsReader(names:)`.
public struct ParamsReader: Sendable {
    let session: Session
    public let tensors: [TensorSpec]
    /// The optimizer's view being read (nil: the parameters themselves).
    public let view: String?
    /// The step the parameters belong to (the download's ETag).
    public let step: Int
    let version: UInt64

    public var byteCount: Int { tensors.reduce(0) { $0 + $1.count * 4 } }

    /// Fills `buffer` from byte `offset`; returns the bytes written (0 at the end).
    public func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(SessionError) -> Int {
        try session.readParams(tensors, view: view, version: version, at: offset, into: buffer)
    }
}
