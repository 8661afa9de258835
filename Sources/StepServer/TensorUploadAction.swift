import StepHTTP
import StepCore
import StepJSON

/// Where the per-request knobs of a tensor upload come from: the JSON body's other fields, or
/// the query string for binary bodies.
enum UploadFields {
    case json(JSONObjectReader)
    case query(HTTPRequestHead)

    mutating func double(_ key: String) throws -> Double? {
        switch self {
        case .json(var r):
            defer { self = .json(r) }
            return try r.double(key)
        case .query(let head): return try head.doubleQuery(key)
        }
    }

    mutating func int(_ key: String) throws -> Int? {
        switch self {
        case .json(var r):
            defer { self = .json(r) }
            return try r.int(key)
        case .query(let head): return try head.intQuery(key)
        }
    }

    /// Refuses unknown JSON fields once the caller has read the ones it knows.
    func finish() throws {
        if case .json(let r) = self { try r.finish() }
    }
}

extension StepService {
    /// Reads a tensor body in any of the three encodings (DESIGN.md) into an upload from `begin`
    /// and hands it to `done`: JSON `{"<key>": {name: [...]}, ...}`, raw little-endian values in
    /// declared order streamed into the upload as they arrive (length checked against
    /// Content-Length before reading), or a safetensors file.
    func tensorUpload(_ head: HTTPRequestHead, key: String, begin: @escaping (GradientDType?) throws -> GradientUpload,
                      done: @escaping (GradientUpload, inout UploadFields) throws -> Response) throws -> RouteAction {
        switch head.mediaType {
        case TensorMediaType.json?:
            return try .jsonDocument(head, limit: maxJSONBodyBytes, float32Arrays: true) { document in
                let root = document.root
                guard root.isObject else {
                    throw HTTPError.unprocessable(detail: "expected a JSON object with \"\(key)\", got \(root.value.typeName)")
                }
                // The tensors are read in place; only the few other fields become Swift values.
                var tensors: JSONNode? = nil
                var others: [(String, JSONValue)] = []
                for (name, node) in root.members {
                    if name == key { tensors = node } else { others.append((name, node.value)) }
                }
                guard let tensors else {
                    throw HTTPError.unprocessable(field: key, detail: "\(key): is required (an object of named arrays)")
                }
                let upload = try begin(nil)
                try TensorMediaType.fill(upload, from: tensors, field: key)
                var fields = UploadFields.json(try JSONObjectReader(.object(JSONObject(others)), path: ""))
                return try done(upload, &fields)
            }
        case TensorMediaType.raw?:
            let dtype = try TensorMediaType.dtype(head)
            let upload = try begin(dtype)
            if let n = head.contentLength, n != upload.expectedBytes {
                throw HTTPError.unprocessable(field: "body", detail: "Content-Length is \(n); this session takes \(upload.expectedBytes) bytes (\(upload.layout.count) \(dtype.rawValue) values for \(upload.layout.tensors.map(\.name).joined(separator: ", ")) in declared order)")
            }
            return .readBody(GradientBodyHandler(upload: upload) { upload in
                var fields = UploadFields.query(head)
                return try done(upload, &fields)
            })
        case TensorMediaType.safetensors?:
            return .collectBody(limit: maxBodyBytes, budget: registry.budget) { bytes in
                let upload = try begin(nil)
                try TensorMediaType.fill(upload, safetensors: bytes, field: key)
                var fields = UploadFields.query(head)
                return try done(upload, &fields)
            }
        default:
            throw HTTPError.unsupportedMediaType(head.headers[.contentType], supported: TensorMediaType.all)
        }
    }
}
