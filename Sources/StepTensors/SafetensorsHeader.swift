import StepJSON

/// The parsed, validated header of a safetensors file: the `__metadata__` strings and where each
/// tensor's bytes lie. Validation is as strict as the Rust `safetensors` crate (and stricter on
/// unknown fields), so a file we accept is one Python can load, and a damaged snapshot is
/// refused here rather than half-restored.
///
/// Layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON (padded with spaces to a
/// multiple of 8, so the data starts 8-aligned), then the byte buffer the tensors tile exactly,
/// in offset order, without gaps or overlaps.
public struct SafetensorsHeader: Sendable, Equatable {
    /// Far below the Rust crate's 100 MB: a header is parsed whole into a tree of about 24
    /// bytes per JSON value before it can be checked, so this bounds what a hostile upload's
    /// header can cost (at most about 400 MB). 16 MiB still describes some 150,000 tensors; a
    /// stepd checkpoint of a 10,000-tensor model with its history needs about 5 MB.
    public static let maxHeaderLength = 16 << 20

    public let metadata: [String: String]
    /// In buffer order (by `dataOffsets`), which for files we write is the order given.
    public let tensors: [SafetensorsTensorInfo]
    /// N: the JSON text's length including padding.
    public let headerLength: Int
    public let dataLength: Int
    private let index: [String: Int]

    /// Where the byte buffer starts in the file.
    public var dataStart: Int { 8 + headerLength }
    public var fileSize: Int { dataStart + dataLength }

    public func tensor(named name: String) -> SafetensorsTensorInfo? {
        index[name].map { tensors[$0] }
    }

    /// Reads N from the first 8 bytes and checks it against the limit and, when known, the size
    /// of the whole file (or body), so a flipped high bit cannot make us allocate gigabytes.
    public static func headerLength(prefix: UnsafeRawBufferPointer, fileSize: Int?) throws(SafetensorsError) -> Int {
        guard prefix.count >= 8 else { throw .truncated(needed: 8, available: prefix.count) }
        var n: UInt64 = 0
        for i in (0..<8).reversed() { n = n << 8 | UInt64(prefix[i]) }
        let available = fileSize.map { $0 - 8 } ?? maxHeaderLength
        guard n <= UInt64(maxHeaderLength), n <= UInt64(max(available, 0)) else {
            throw .headerLengthInvalid(length: n, available: available)
        }
        return Int(n)
    }

    /// Validates the header JSON (the N bytes after the prefix). `dataLength` is the size of the
    /// byte buffer when known; nil (a streamed body of unknown length) skips that one check.
    public static func parse(json: UnsafeRawBufferPointer, dataLength: Int?) throws(SafetensorsError) -> SafetensorsHeader {
        guard json.first == UInt8(ascii: "{") else {
            throw .headerNotJSON("does not start with '{'")
        }
        let document: JSONDocument
        do { document = try JSONDocument(parsing: json) } catch { throw .headerNotJSON(error.description) }
        defer { withExtendedLifetime(document) {} }  // its nodes are borrowed below
        let root = document.root
        guard root.isObject else { throw .headerNotJSON("expected an object, got \(root.value.typeName)") }

        var metadata: [String: String] = [:]
        var tensors: [SafetensorsTensorInfo] = []
        // Entry by entry, so only one tensor's description is a Swift value at a time.
        for (key, node) in root.members {
            let value = node.value
            if key == "__metadata__" {
                guard case .object(let m) = value else {
                    throw .invalidHeader(field: key, message: "expected an object of strings, got \(value.typeName)")
                }
                for (k, v) in m.pairs {
                    guard case .string(let s) = v else {
                        throw .invalidHeader(field: "__metadata__.\(k)", message: "expected a string, got \(v.preview)")
                    }
                    metadata[k] = s
                }
            } else {
                tensors.append(try tensorInfo(name: key, value))
            }
        }

        // Sorting by (begin, end) puts zero-length tensors before a tensor starting at the same
        // byte, as the Rust crate does, so the tiling check below accepts exactly what it accepts.
        tensors.sort { ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound) }
        var end = 0
        for t in tensors {
            guard t.dataOffsets.lowerBound == end else {
                throw .misplacedTensor(tensor: t.name, begin: t.dataOffsets.lowerBound, expectedBegin: end)
            }
            end = t.dataOffsets.upperBound
        }
        if let dataLength, end != dataLength {
            throw .bufferLengthMismatch(tensorsEnd: end, bufferLength: dataLength)
        }
        var index: [String: Int] = [:]
        for (i, t) in tensors.enumerated() { index[t.name] = i }
        return SafetensorsHeader(metadata: metadata, tensors: tensors, headerLength: json.count,
                                 dataLength: dataLength ?? end, index: index)
    }

    /// Parses and validates a whole file held in memory (an uploaded checkpoint, a test).
    public static func parse(file: UnsafeRawBufferPointer) throws(SafetensorsError) -> SafetensorsHeader {
        let n = try headerLength(prefix: file, fileSize: file.count)
        return try parse(json: UnsafeRawBufferPointer(rebasing: file[8..<(8 + n)]), dataLength: file.count - 8 - n)
    }

    private static func tensorInfo(name: String, _ value: JSONValue) throws(SafetensorsError) -> SafetensorsTensorInfo {
        do {
            var r = try JSONObjectReader(value, path: name)
            guard let dtypeName = try r.string("dtype") else {
                throw JSONFieldError(field: r.field("dtype"), "missing")
            }
            guard let shapeValues = try r.array("shape") else { throw JSONFieldError(field: r.field("shape"), "missing") }
            guard let offsetValues = try r.array("data_offsets") else {
                throw JSONFieldError(field: r.field("data_offsets"), "missing")
            }
            try r.finish()
            guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
                throw SafetensorsError.unknownDType(tensor: name, dtype: dtypeName)
            }
            var shape: [Int] = []
            for (i, v) in shapeValues.enumerated() {
                shape.append(try count(v, field: "\(r.field("shape"))[\(i)]"))
            }
            guard offsetValues.count == 2 else {
                throw JSONFieldError(field: r.field("data_offsets"),
                                     "expected [begin, end], got \(offsetValues.count) numbers")
            }
            let begin = try count(offsetValues[0], field: r.field("data_offsets") + "[0]")
            let end = try count(offsetValues[1], field: r.field("data_offsets") + "[1]")
            guard begin <= end else {
                throw JSONFieldError(field: r.field("data_offsets"), "end \(end) is before begin \(begin)")
            }
            guard let expected = SafetensorsTensorInfo.expectedByteCount(shape: shape, dtype: dtype) else {
                throw JSONFieldError(field: r.field("shape"), "element count overflows")
            }
            guard expected == end - begin else {
                throw SafetensorsError.sizeMismatch(tensor: name, expected: expected, actual: end - begin)
            }
            return SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
        } catch let e as JSONFieldError {
            throw .invalidHeader(field: e.field, message: e.message)
        } catch let e as SafetensorsError {
            throw e
        } catch {
            throw .invalidHeader(field: name, message: "\(error)")
        }
    }

    /// A dimension or offset: a non-negative integer small enough to be exact in a double.
    private static func count(_ v: JSONValue, field: String) throws(JSONFieldError) -> Int {
        guard case .number(let d) = v, d == d.rounded(), d >= 0, d < 9e15 else {
            throw JSONFieldError(field: field, "expected a non-negative integer, got \(v.preview)")
        }
        return Int(d)
    }

    /// The file's first `dataStart` bytes for these tensors laid out in the order given, and
    /// where in them the checksum's hex digits sit (if `metadata` has the checksum entry), so a
    /// writer can patch the digits in once the data has streamed past.
    public static func encode(metadata: [String: String],
                       tensors: [(name: String, dtype: SafetensorsDType, shape: [Int], byteCount: Int)])
        -> (bytes: [UInt8], infos: [SafetensorsTensorInfo], checksumDigitsAt: Int?)
    {
        var w = JSONWriter(reservingCapacity: 128 + tensors.count * 96 + metadata.count * 64)
        var digitsAt: Int? = nil
        w.raw("{")
        if !metadata.isEmpty {
            w.string("__metadata__")
            w.raw(":{")
            for (i, key) in metadata.keys.sorted().enumerated() {
                if i > 0 { w.raw(",") }
                w.string(key)
                w.raw(":")
                let value = metadata[key]!
                if key == SafetensorsChecksum.metadataKey, SafetensorsChecksum.parse(value) != nil {
                    digitsAt = w.bytes.count + 1 + SafetensorsChecksum.prefix.utf8.count
                }
                w.string(value)
            }
            w.raw("}")
        }
        var infos: [SafetensorsTensorInfo] = []
        var offset = 0
        for t in tensors {
            if !infos.isEmpty || !metadata.isEmpty { w.raw(",") }
            w.string(t.name)
            w.raw(":{\"dtype\":")
            w.string(t.dtype.rawValue)
            w.raw(",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))]")
            w.raw(",\"data_offsets\":[\(offset),\(offset + t.byteCount)]}")
            infos.append(SafetensorsTensorInfo(name: t.name, dtype: t.dtype, shape: t.shape,
                                               dataOffsets: offset..<(offset + t.byteCount)))
            offset += t.byteCount
        }
        w.raw("}")
        var json = w.bytes
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + json.count)
        let n = UInt64(json.count)
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: n >> (8 * UInt64(i)))) }
        bytes.append(contentsOf: json)
        return (bytes, infos, digitsAt.map { $0 + 8 })
    }
}
