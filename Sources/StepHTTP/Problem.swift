import StepJSON
import HTTPTypes

/// An RFC 9457 problem document. Every error stepd sends is one of these, so a client needs a
/// single error path, and `detail` is where the precise reason goes (which field, which
/// limit, which value); `extra` carries machine-readable members such as `"field"`.
public struct Problem: Sendable, Equatable, Error {
    public var type: String
    public var title: String
    public var status: HTTPResponse.Status
    public var detail: String?
    public var instance: String?
    public var extra: JSONObject

    public init(status: HTTPResponse.Status, detail: String? = nil, type: String = "about:blank",
                title: String? = nil, instance: String? = nil, extra: JSONObject = JSONObject()) {
        self.type = type
        self.title = title ?? status.reasonPhrase
        self.status = status
        self.detail = detail
        self.instance = instance
        self.extra = extra
    }

    public static let mediaType = "application/problem+json"

    public var json: JSONValue {
        var o = JSONObject()
        o["type"] = .string(type)
        o["title"] = .string(title)
        o["status"] = .number(Double(status.code))
        if let detail { o["detail"] = .string(detail) }
        if let instance { o["instance"] = .string(instance) }
        for (k, v) in extra.pairs where o[k] == nil { o[k] = v }
        return .object(o)
    }
}
