import StepKernels
import StepJSON

/// The wire formats of a raw gradient body.
public enum GradientDType: String, Sendable {
    case f32, bf16, f16
    public var byteWidth: Int { self == .f32 ? 4 : 2 }

    /// `x` rounded to this type (to nearest even) and widened back.
    public func rounded(_ x: Float) -> Float {
        switch self {
        case .f32: x
        case .bf16: HalfPrecision.bf16ToFloat(HalfPrecision.floatToBF16(x))
        case .f16: HalfPrecision.f16ToFloat(HalfPrecision.floatToF16(x))
        }
    }
}

/// A gradient being received for one step: a session-sized buffer that body bytes are written
/// into as they arrive, so a large upload is never held twice. Bytes may split a value across
/// chunks; the partial value is carried over. Lease one with `Session.beginUpload()`, hand it
/// back through `Session.submit`; an abandoned upload gives its buffer back when released.
public final class GradientUpload: @unchecked Sendable {
    /// Where the buffer came from, and so where it goes back.
    enum Lease {
        /// The session's own gradient buffer: back to the session.
        case session(Session)
        /// An extra buffer counted against the server's memory limit: released from it.
        case budget(ByteBudget, Int)
        case none
    }

    public let layout: TensorLayout
    let buffer: AlignedBuffer
    private var lease: Lease
    /// Raw bodies carry a dtype; named uploads (JSON, safetensors) have none.
    public let dtype: GradientDType?
    /// Values written so far (raw bodies).
    public private(set) var written = 0
    private var carry: [UInt8] = []
    private var namedTensors = Set<String>()
    private var overflow = false
    /// The gradient's sum of squares, taken chunk by chunk as raw bytes arrive (while each chunk
    /// is still in cache), so the step need not read the whole buffer again for the norm.
    private var norm: GradientNorm.Running

    init(layout: TensorLayout, buffer: AlignedBuffer, dtype: GradientDType?, lease: Lease) {
        self.layout = layout
        self.buffer = buffer
        self.dtype = dtype
        self.lease = lease
        norm = GradientNorm.Running(tensorCounts: layout.counts)
    }

    deinit {
        switch lease {
        case .session(let s): s.takeBack(buffer)
        case .budget(let budget, let bytes): budget.release(bytes)
        case .none: break
        }
    }

    /// Called by `session` under its lock as a step ends: true if the buffer is the session's
    /// own, which the session then takes back there (so the next upload reuses it at once).
    func returnsToSession(_ session: Session) -> Bool {
        guard case .session(let owner) = lease, owner === session else { return false }
        lease = .none
        return true
    }

    public var expectedBytes: Int { layout.count * (dtype ?? .f32).byteWidth }

    /// Appends raw little-endian bytes of the concatenated tensors.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(SessionError) {
        guard let dtype else { preconditionFailure("raw bytes written to a named-tensor upload") }
        var bytes = bytes
        let w = dtype.byteWidth
        if !carry.isEmpty {
            let need = w - carry.count
            let take = min(need, bytes.count)
            carry.append(contentsOf: bytes.prefix(take))
            bytes = UnsafeRawBufferPointer(rebasing: bytes[take...])
            if carry.count == w {
                let stored = carry.withUnsafeBytes { c in Result { () throws(SessionError) in try store(c, values: 1, dtype) } }
                try stored.get()
                carry.removeAll(keepingCapacity: true)
            }
        }
        let whole = bytes.count / w
        if whole > 0 { try store(UnsafeRawBufferPointer(rebasing: bytes[..<(whole * w)]), values: whole, dtype) }
        if bytes.count % w != 0 { carry.append(contentsOf: bytes[(whole * w)...]) }
    }

    private func store(_ raw: UnsafeRawBufferPointer, values n: Int, _ dtype: GradientDType) throws(SessionError) {
        guard written + n <= layout.count else {
            overflow = true
            written += n
            throw tooLong
        }
        // Up to a norm chunk at a time, each summed straight after it is complete, while it is
        // still in cache (one large write would otherwise have pushed its start out of it).
        var done = 0
        while done < n {
            let end = norm.chunkEnd
            let m = min(n - done, end > written ? end - written : GradientNorm.chunk)
            let src = raw.baseAddress! + done * dtype.byteWidth
            let dst = buffer.pointer + written
            switch dtype {
            case .f32: UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: m * 4)
            case .bf16, .f16: HalfPrecision.widen(src, to: dst, count: m, bfloat: dtype == .bf16)
            }
            written += m
            done += m
            norm.advance(buffer.pointer, available: written)
        }
    }

    /// Each tensor's sum of squares of a complete raw upload, as `GradientNorm.tensorSums`
    /// gives them (the same chunks added in the same order, so the same bits); nil for named
    /// tensors or an incomplete body.
    var tensorSums: [Double]? {
        guard dtype != nil, namedTensors.isEmpty, !overflow, carry.isEmpty, written == layout.count else { return nil }
        return norm.tensorSums
    }

    /// `GradientNorm.total` of `tensorSums`.
    var sumOfSquares: Double? { tensorSums.map(GradientNorm.total) }

    private var tooLong: SessionError {
        .invalid(field: "body", detail: "expected \(expectedBytes) bytes (\(layout.count) \((dtype ?? .f32).rawValue) values for tensors \(layout.tensors.map(\.name).joined(separator: ", ")) in declared order), got more")
    }

    /// Sets one named tensor (JSON and safetensors bodies).
    public func set(_ name: String, field: String, _ fill: (UnsafeMutableBufferPointer<Float>) throws(SessionError) -> Void) throws(SessionError) {
        guard let t = layout.tensor(named: name) else {
            throw .invalid(field: field, detail: "unknown tensor \"\(name)\"; this session has \(layout.tensors.map(\.name).joined(separator: ", "))")
        }
        guard namedTensors.insert(name).inserted else { throw .invalid(field: field, detail: "tensor \"\(name)\" given twice") }
        try fill(UnsafeMutableBufferPointer(start: buffer.pointer + t.offset, count: t.count))
    }

    public func set(_ name: String, values: [Double], field: String) throws(SessionError) {
        try set(name, field: field) { (dst) throws(SessionError) in
            guard values.count == dst.count else {
                let t = layout.tensor(named: name)!
                throw .invalid(field: field, detail: "tensor \"\(name)\" has shape \(t.shape) (\(t.count) values), got \(values.count)")
            }
            for i in 0..<values.count { dst[i] = Float(values[i]) }
        }
    }

    /// Sets one named tensor from little-endian bytes (safetensors bodies), checking the size.
    public func set(_ name: String, bytes: UnsafeRawBufferPointer, dtype: GradientDType, field: String) throws(SessionError) {
        try set(name, field: field) { (dst) throws(SessionError) in
            guard bytes.count == dst.count * dtype.byteWidth else {
                let t = layout.tensor(named: name)!
                throw .invalid(field: field, detail: "tensor \"\(name)\" has shape \(t.shape) (\(t.count) values, \(t.count * dtype.byteWidth) bytes of \(dtype.rawValue)), got \(bytes.count) bytes")
            }
            guard let src = bytes.baseAddress, let out = dst.baseAddress else { return }
            switch dtype {
            case .f32: UnsafeMutableRawPointer(out).copyMemory(from: src, byteCount: bytes.count)
            case .bf16, .f16: HalfPrecision.widen(src, to: out, count: dst.count, bfloat: dtype == .bf16)
            }
        }
    }

    /// Checks the upload is complete: every byte of a raw body, or every tensor by name.
    func validate() throws(SessionError) {
        guard let dtype else {
            let missing = layout.tensors.map(\.name).filter { !namedTensors.contains($0) }
            if !missing.isEmpty {
                throw .invalid(field: "grads", detail: "missing gradients for \(missing.map { "\"\($0)\"" }.joined(separator: ", "))")
            }
            return
        }
        let got = written * dtype.byteWidth + carry.count
        guard got == expectedBytes, !overflow else {
            throw .invalid(field: "body", detail: "expected \(expectedBytes) bytes (\(layout.count) \(dtype.rawValue) values for tensors \(layout.tensors.map(\.name).joined(separator: ", ")) in declared order), got \(got)")
        }
    }

    /// Tensors this upload carries: all for a raw body, those named otherwise.
    public var touchedTensors: [TensorSpec] {
        dtype == nil ? layout.tensors.filter { namedTensors.contains($0.name) } : layout.tensors
    }

    /// A parameter upload may name a subset of tensors, but must name at least one.
    func validateForParams() throws(SessionError) {
        if dtype == nil {
            guard !namedTensors.isEmpty else { throw .invalid(field: "params", detail: "no tensors given") }
        } else {
            try validate()
        }
    }
}
