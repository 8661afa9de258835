/// Why a safetensors file or header was refused, or could not be produced. Each case names the
/// tensor and the numbers involved, because a restore that falls back to an older snapshot has
/// to log why the newer one was bad, and a client whose upload is refused has to be told which
/// tensor to fix.
public enum SafetensorsError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Fewer bytes than the 8-byte length prefix plus the header it announces.
    case truncated(needed: Int, available: Int)
    /// The announced header length is impossible: over the limit or beyond the end of the file.
    case headerLengthInvalid(length: UInt64, available: Int)
    /// The header is not JSON, or not an object.
    case headerNotJSON(String)
    /// The header is JSON but its structure is wrong; `field` is a path like `w.shape[1]`.
    case invalidHeader(field: String, message: String)
    case unknownDType(tensor: String, dtype: String)
    /// `shape` × dtype size disagrees with the tensor's byte range.
    case sizeMismatch(tensor: String, expected: Int, actual: Int)
    /// Tensors' byte ranges must tile the buffer in order; this one starts elsewhere.
    case misplacedTensor(tensor: String, begin: Int, expectedBegin: Int)
    /// The tensors do not end where the buffer ends (trailing bytes or a short file).
    case bufferLengthMismatch(tensorsEnd: Int, bufferLength: Int)
    case noSuchTensor(String)
    /// The writer was given a tensor or metadata it cannot encode.
    case invalidArgument(String)
    case checksumMissing
    /// The checksum metadata is present but not in the form this writer produces.
    case checksumMalformed(String)
    case checksumMismatch(stored: UInt32, computed: UInt32)
    case io(FileIOError)

    public var description: String {
        switch self {
        case .truncated(let needed, let available):
            return "file truncated: needs at least \(needed) bytes, has \(available)"
        case .headerLengthInvalid(let length, let available):
            return "header length \(length) is impossible: \(available) bytes follow the length prefix"
                + " (limit \(SafetensorsHeader.maxHeaderLength))"
        case .headerNotJSON(let why): return "header is not a JSON object: \(why)"
        case .invalidHeader(let field, let message): return "header field \(field): \(message)"
        case .unknownDType(let t, let d): return "tensor \(t): unknown dtype \"\(d)\""
        case .sizeMismatch(let t, let expected, let actual):
            return "tensor \(t): shape and dtype need \(expected) bytes, data_offsets span \(actual)"
        case .misplacedTensor(let t, let begin, let expectedBegin):
            return begin < expectedBegin
                ? "tensor \(t): data starts at \(begin), overlapping the previous tensor which ends at \(expectedBegin)"
                : "tensor \(t): data starts at \(begin), leaving a gap after the previous tensor which ends at \(expectedBegin)"
        case .bufferLengthMismatch(let end, let length):
            return "tensors end at byte \(end) of the data buffer but the buffer has \(length) bytes"
        case .noSuchTensor(let name): return "no tensor named \(name)"
        case .invalidArgument(let why): return why
        case .checksumMissing: return "no \"\(SafetensorsChecksum.metadataKey)\" in __metadata__"
        case .checksumMalformed(let why): return "checksum metadata malformed: \(why)"
        case .checksumMismatch(let stored, let computed):
            return "checksum mismatch: header says \(SafetensorsChecksum.format(stored)),"
                + " contents give \(SafetensorsChecksum.format(computed))"
        case .io(let e): return e.description
        }
    }
}
