import StepHTTP
import HTTPTypes

/// One embedded file as it is served: its bytes, media type and an ETag of its content. The
/// URLs carry no version, so every response says `Cache-Control: no-cache`: browsers keep the
/// file but ask again each time, and get a bodiless 304 while the binary is the same.
public struct DashboardFile: Sendable {
    /// The path under `Sources/StepDashboardFiles/web/`.
    public let name: String
    public let bytes: [UInt8]
    public let contentType: String
    /// A strong validator: FNV-1a (64 bits) of the bytes, in hex and quotes.
    public let etag: String

    public init(name: String, bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
        contentType = Self.mediaType(of: name)
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { hash = (hash ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        let hex = String(hash, radix: 16)
        etag = "\"" + String(repeating: "0", count: 16 - hex.count) + hex + "\""
    }

    /// By extension; the files are ours, so an unknown extension is a mistake served as text.
    static func mediaType(of name: String) -> String {
        switch name.split(separator: ".").last {
        case "html": "text/html; charset=utf-8"
        case "js": "text/javascript; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "svg": "image/svg+xml"
        default: "text/plain; charset=utf-8"
        }
    }

    public var isPage: Bool { name.hasSuffix(".html") }

    /// The pages load scripts and styles only from this server (no inline script, nothing from
    /// elsewhere, so a session id or a reason string can never run as code); inline styles are
    /// allowed because dygraphs positions its legend and annotations with them.
    static let contentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        + "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

    /// 200 with the file, or 304 when `If-None-Match` names this version.
    public func response(to head: HTTPRequestHead) -> Response {
        var headers: HTTPFields = [.eTag: etag, .cacheControl: "no-cache", .xContentTypeOptions: "nosniff"]
        if isPage {
            headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
            headers[.referrerPolicy] = "no-referrer"
        }
        if let tags = head.headers[.ifNoneMatch], matches(tags) {
            return .empty(.notModified, headers: headers)
        }
        return .bytes(bytes, contentType: contentType, headers: headers)
    }

    /// RFC 9110's weak comparison, which `If-None-Match` uses: `W/` is ignored, `*` matches.
    func matches(_ field: String) -> Bool {
        field.split(separator: ",").contains { item in
            var tag = item.trimmingCharacters(in: " \t")
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag.removeFirst(2) }
            return tag == etag
        }
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = self
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}
