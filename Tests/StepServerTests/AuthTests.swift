@testable import StepHTTP
import StepHTTPTesting
import StepJSON
import Testing
import HTTPTypes
@testable import StepServer

@Suite struct AuthTests {
    static func router(token: String? = "s3cret-token") -> Router {
        var r = Router()
        r.authenticator = Authenticator(token: token)
        r.get("/healthz") { _, _ in .respond(.text("ok")) }
        r.get("/metrics") { _, _ in .respond(.text("")) }
        r.get("/v1/sessions") { _, _ in .json([]) }
        return r
    }

    static func get(_ path: String, auth: String? = nil) -> HTTPRequestHead {
        var h = HTTPFields()
        if let auth { h.append(HTTPField(name: .authorization, value: auth)) }
        return HTTPRequestHead(method: .get, target: path, headers: h)
    }

    @Test func v1PathsNeedTheBearerToken() throws {
        let r = Self.router().handle(Self.get("/v1/sessions"))
        #expect(r.status == .unauthorized)
        #expect(r.headers[.wwwAuthenticate] == "Bearer realm=\"stepd\"")
        #expect(r.headers[.contentType] == "application/problem+json")
    }

    @Test func aWrongTokenIs401InvalidToken() {
        for bad in ["Bearer nope", "Bearer s3cret-toke", "Bearer s3cret-token2", "Basic czNjcmV0", "Bearer"] {
            let r = Self.router().handle(Self.get("/v1/sessions", auth: bad))
            #expect(r.status == .unauthorized, "\(bad)")
        }
        let r = Self.router().handle(Self.get("/v1/sessions", auth: "Bearer nope"))
        #expect(r.headers[.wwwAuthenticate]?.contains("invalid_token") == true)
    }

    @Test func theRightTokenIsAcceptedWithAnySchemeCase() {
        #expect(Self.router().handle(Self.get("/v1/sessions", auth: "Bearer s3cret-token")).status == .ok)
        #expect(Self.router().handle(Self.get("/v1/sessions", auth: "bearer s3cret-token")).status == .ok)
    }

    @Test func unknownV1PathsAre401NotA404ThatRevealsRoutes() {
        #expect(Self.router().handle(Self.get("/v1/secret-route")).status == .unauthorized)
        #expect(Self.router().handle(Self.get("/v1")).status == .unauthorized)
        #expect(Self.router().handle(Self.get("/v1x")).status == .notFound)
    }

    @Test func healthAndMetricsStayOpen() {
        #expect(Self.router().handle(Self.get("/healthz")).status == .ok)
        #expect(Self.router().handle(Self.get("/metrics")).status == .ok)
    }

    @Test func noTokenConfiguredMeansNoCheck() {
        #expect(Self.router(token: nil).handle(Self.get("/v1/sessions")).status == .ok)
        #expect(Self.router(token: "").handle(Self.get("/v1/sessions")).status == .ok)
    }

    @Test func constantTimeCompareIsExactEquality() {
        let eq = KeysTable.constantTimeEqual
        #expect(eq(Array("abc".utf8), Array("abc".utf8)))
        #expect(!eq(Array("abc".utf8), Array("abd".utf8)))
        #expect(!eq(Array("abc".utf8), Array("ab".utf8)))
        #expect(!eq(Array("".utf8), Array("a".utf8)))
        #expect(eq([], []))
        // Same length, differing only by a byte that XORs to a length difference elsewhere.
        #expect(!eq([0x01], [0x00, 0x00]))
    }
}
