import Foundation
import StepDashboard
@testable import StepHTTP
import StepHTTPTesting
import StepJSON
import StepServer
import StepStore
import Testing
import HTTPTypes

/// The dashboard as the router serves it (what a browser sees of it is tests/python/
/// test_dashboard.py), and the two API additions its pages poll with.
@Suite struct DashboardTests {
    static func get(_ router: Router, _ target: String, _ headers: HTTPFields = [:]) -> Response {
        router.handle(HTTPRequestHead(method: .get, target: target, headers: headers))
    }

    static func text(_ r: Response) throws -> String { String(decoding: try r.collectBody(), as: UTF8.self) }

    /// The `src` and `href` of a page's scripts, styles and icon that point at this server.
    static func references(_ html: String) -> [String] {
        let pattern = try! NSRegularExpression(pattern: #"(?:src|href)="(/assets/[^"]+)""#)
        return pattern.matches(in: html, range: NSRange(html.startIndex..., in: html)).map {
            String(html[Range($0.range(at: 1), in: html)!])
        }
    }

    @Test("every page is HTML with a strict CSP, and everything it loads is served with its media type",
          arguments: ["/", "/sessions/run-7", "/compare", "/compare?ids=a,b"])
    func pagesAndWhatTheyLoad(target: String) throws {
        let router = StepService(parallel: .serial).router()
        let page = Self.get(router, target)
        #expect(page.status == .ok)
        #expect(page.headers[.contentType] == "text/html; charset=utf-8")
        #expect(page.headers[.contentSecurityPolicy]?.contains("script-src 'self';") == true)
        #expect(page.headers[.cacheControl] == "no-cache")
        let html = try Self.text(page)
        let refs = Self.references(html)
        #expect(refs.contains("/assets/vendor/dygraphs/dygraph.min.js"))
        #expect(refs.contains { $0.hasSuffix(".js") && $0 != "/assets/vendor/dygraphs/dygraph.min.js" })
        #expect(!html.contains("<script>"), "no inline script: the CSP would refuse it")
        for ref in refs {
            let r = Self.get(router, ref)
            #expect(r.status == .ok, "\(ref)")
            let expected = ref.hasSuffix(".js") ? "text/javascript; charset=utf-8"
                : ref.hasSuffix(".css") ? "text/css; charset=utf-8" : "image/svg+xml"
            #expect(r.headers[.contentType] == expected, "\(ref)")
            #expect(r.headers[.xContentTypeOptions] == "nosniff")
            #expect(try !r.collectBody().isEmpty, "\(ref)")
        }
    }

    @Test("the modules import only files that are served")
    func moduleImportsResolve() throws {
        let router = StepService(parallel: .serial).router()
        let pattern = try NSRegularExpression(pattern: #"from "(/assets/[^"]+)""#)
        var imports = 0
        for file in Dashboard.files.values where file.name.hasSuffix(".js") && !file.name.hasPrefix("vendor/") {
            let js = String(decoding: file.bytes, as: UTF8.self)
            for m in pattern.matches(in: js, range: NSRange(js.startIndex..., in: js)) {
                let path = String(js[Range(m.range(at: 1), in: js)!])
                #expect(Self.get(router, path).status == .ok, "\(file.name) imports \(path)")
                imports += 1
            }
        }
        #expect(imports >= 5)
    }

    @Test("a revalidation with the ETag gets a bodiless 304; another version gets the file")
    func etagRevalidation() throws {
        let router = StepService(parallel: .serial).router()
        let first = Self.get(router, "/assets/session.js")
        let etag = try #require(first.headers[.eTag])
        #expect(etag.hasPrefix("\"") && etag.hasSuffix("\"") && etag.count == 18)
        for field in [etag, "W/\(etag)", "\"other\", \(etag)", "*"] {
            let again = Self.get(router, "/assets/session.js", [.ifNoneMatch: field])
            #expect(again.status == .notModified, "\(field)")
            #expect(try again.collectBody().isEmpty)
            #expect(again.headers[.eTag] == etag)
        }
        let stale = Self.get(router, "/assets/session.js", [.ifNoneMatch: "\"0000000000000000\""])
        #expect(stale.status == .ok)
        #expect(try stale.collectBody() == first.collectBody())
        // Different files, different tags.
        #expect(Self.get(router, "/assets/api.js").headers[.eTag] != etag)
    }

    @Test("an unknown asset is a 404 problem, and the pages are not served under /assets")
    func unknownAsset() throws {
        let router = StepService(parallel: .serial).router()
        for target in ["/assets/nothing.js", "/assets/session.html", "/assets/vendor/dygraphs"] {
            let r = Self.get(router, target)
            #expect(r.status == .notFound, "\(target)")
            #expect(r.headers[.contentType] == Problem.mediaType)
        }
    }

    @Test("with a token the pages and assets stay open and the API they read does not")
    func tokenLeavesPagesOpen() throws {
        let router = StepService(authenticator: Authenticator(token: "secret"), parallel: .serial).router()
        for target in ["/", "/sessions/x", "/compare", "/assets/api.js", "/assets/vendor/dygraphs/LICENSE"] {
            #expect(Self.get(router, target).status == .ok, "\(target)")
        }
        #expect(Self.get(router, "/v1/sessions").status == .unauthorized)
        #expect(Self.get(router, "/v1/sessions", [.authorization: "Bearer secret"]).status == .ok)
        #expect(router.handle(HTTPRequestHead(method: .head, target: "/")).status == .ok)
    }

    @Test("the vendored dygraphs is the one README names, with its MIT licence")
    func vendoredLibrary() throws {
        let js = try #require(Dashboard.files["vendor/dygraphs/dygraph.min.js"])
        #expect(String(decoding: js.bytes.prefix(80), as: UTF8.self).contains("dygraphs/blob/v2.2.1/LICENSE.txt (MIT)"))
        #expect(js.bytes.count > 100_000)
        let license = try #require(Dashboard.files["vendor/dygraphs/LICENSE"])
        #expect(String(decoding: license.bytes, as: UTF8.self).contains("Permission is hereby granted, free of charge"))
    }

    // MARK: the API the pages poll

    static let create: JSONValue = [
        "id": "h", "optimizer": ["type": "sgd", "lr": 0.1],
        "params": [["name": "w", "shape": [2], "values": [1, 2]]],
    ]

    static func post(_ router: Router, _ target: String, _ json: JSONValue) -> Response {
        let body = json.encoded
        return router.handle(HTTPRequestHead(method: .post, target: target,
                                             headers: [.contentType: "application/json", .contentLength: String(body.count)]), body: body)
    }

    @Test("history?after=N returns the records after the first N, counting a skipped request, with total")
    func historyAfter() throws {
        let router = StepService(parallel: .serial).router()
        #expect(Self.post(router, "/v1/sessions", Self.create).status == .created)
        for g: JSONValue in [[0.5, 0.5], ["nan", 0.5], [0.25, 0.25]] {
            #expect(Self.post(router, "/v1/sessions/h/steps", ["grads": ["w": g], "loss": 1]).status == .ok)
        }
        let all = try Self.get(router, "/v1/sessions/h/history").jsonBody()
        #expect(all["total"] == 3)
        let after1 = try Self.get(router, "/v1/sessions/h/history?after=1").jsonBody()
        #expect(after1["total"] == 3)
        guard case .array(let records)? = after1["records"] else { Issue.record("no records: \(after1)"); return }
        #expect(records.map { $0["step"] } == [1, 2])
        #expect(records.map { $0["skipped"] } == [true, false])
        #expect(try Self.get(router, "/v1/sessions/h/history?after=3").jsonBody()["records"] == [])
        let newest = try Self.get(router, "/v1/sessions/h/history?after=0&last=1").jsonBody()
        #expect(newest["records"] == .array([try #require(records.last)]))
        for bad in ["-1", "x", "1.5"] {
            let r = Self.get(router, "/v1/sessions/h/history?after=\(bad)")
            #expect(r.status == .unprocessableContent, "\(bad)")
            #expect(try r.jsonBody()["field"] == "after")
        }
    }

    @Test("a snapshot listing says when each was written")
    func snapshotTime() throws {
        let dir = temporaryDirectory("dash")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let manager = SnapshotManager(directory: SnapshotDirectory(dataDirectory: dir), defaults: .init(everySteps: 0, intervalSeconds: 0))
        let router = StepService(persistence: SnapshotPersistence(manager: manager), parallel: .serial).router()
        let before = Date().timeIntervalSince1970 * 1000
        #expect(Self.post(router, "/v1/sessions", Self.create).status == .created)
        let listing = try Self.get(router, "/v1/sessions/h/snapshots").jsonBody()
        guard case .array(let snapshots)? = listing["snapshots"], case .string(let ms)? = snapshots.first?["unix_ms"],
              let written = Double(ms) else {
            Issue.record("no unix_ms: \(listing)"); return
        }
        #expect(written >= before.rounded(.down) - 1 && written <= Date().timeIntervalSince1970 * 1000 + 1)
    }
}
