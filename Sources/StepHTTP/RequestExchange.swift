/// One request's life from head to response, shared by the server and `Router.handle` so the
/// two cannot drift apart. libmicrohttpd cannot queue a response while body bytes are still
/// arriving (other than as an early reject in the first call, after which it closes the
/// connection, and a client still writing its body then sees a reset instead of the answer:
/// Python's http.client and Node's fetch among them). So a refusal, whether decided from the head
/// or mid-body, is remembered, up to `Router.maxDiscardBytes` of the rest of the body are read
/// and dropped, and the refusal is sent at the end.
package final class RequestExchange {
    enum State {
        case idle
        case reading(any RequestBodyHandler)
        /// The response is decided; the rest of the body is read and dropped.
        case draining(Response)
        case done
    }

    let router: Router
    /// An answer decided from the head of a body-less request, held until libmicrohttpd's
    /// next call: queued in the first call, MHD 0.9.75 closes the connection after it
    /// (keep-alive lost, 20x fewer small requests per second).
    var deferred: Response?
    /// As received, plus the principal once the authenticator has run.
    private(set) var head: HTTPRequestHead
    private(set) var state: State = .idle
    /// The matched pattern, for metrics; nil when nothing matched.
    private(set) var pattern: RoutePattern?
    private(set) var received = 0
    /// Body bytes taken before a refusal (the rest is discarded).
    private var acceptedBytes = 0
    private(set) var response: Response?

    package init(router: Router, head: HTTPRequestHead) {
        self.router = router
        self.head = head
    }

    /// Decides from the head. Returns the response when it can be sent now, or nil when the
    /// body must be read first (then `receive` each chunk and `finish`).
    package func start(expectsBody: Bool) -> Response? {
        do {
            try checkFraming()
            head.principal = try router.authenticator?.principal(for: head)
            switch router.match(head.method, path: head.path) {
            case .notFound:
                throw HTTPError.notFound("no resource at \(head.path)")
            case .methodNotAllowed(let p, let allowed):
                pattern = p
                throw HTTPError.methodNotAllowed(head.method, path: head.path, allowed: allowed)
            case .found(let p, let parameters, let handler):
                pattern = p
                if let length = head.contentLength, length > router.maxBodyBytes {
                    throw HTTPError.contentTooLarge(limit: router.maxBodyBytes, received: length)
                }
                switch try handler(head, parameters) {
                case .respond(let r):
                    if expectsBody {
                        state = .draining(r)
                        return nil
                    }
                    return complete(r)
                case .readBody(let h):
                    if expectsBody {
                        state = .reading(h)
                        return nil
                    }
                    state = .reading(h)
                    return finish()
                }
            }
        } catch {
            let r = response(for: error)
            if expectsBody, lingers(error) {
                state = .draining(r)
                return nil
            }
            return complete(r)
        }
    }

    /// Whether a refusal decided from the head waits for the body before it is sent: not for
    /// broken framing (the body's extent is unknown), not for a client that waits for
    /// `100 Continue` before sending, and not for a body declared longer than the discard bound.
    private func lingers(_ error: any Error) -> Bool {
        if let e = error as? HTTPError, e.closesConnection { return false }
        if let expect = head.headers[.expect], expect.lowercased().contains("100-continue") { return false }
        return (head.contentLength ?? 0) <= router.maxDiscardBytes
    }

    /// Whether the body being dropped after a refusal has passed the discard bound: then the
    /// connection is closed without an answer rather than read any further.
    var discardExceeded: Bool {
        if case .draining = state { return received - acceptedBytes > router.maxDiscardBytes }
        return false
    }

    /// libmicrohttpd refuses most broken framing itself, but takes the first of several
    /// Content-Length fields, lets Transfer-Encoding silently win over Content-Length, and reads
    /// a body of unknown coding until the client closes. A proxy in front may frame the same
    /// bytes the other way (request smuggling), so any framing two parsers could read
    /// differently is refused, and the answer closes the connection (RFC 9112 section 6.3).
    private func checkFraming() throws {
        if let malformed = head.malformed { throw HTTPError.badFraming(malformed) }
        let lengths = head.headers[values: .contentLength]
        let codings = head.headers[values: .transferEncoding]
        if !codings.isEmpty {
            let te = codings.joined(separator: ", ")
            if !lengths.isEmpty {
                throw HTTPError.badFraming(
                    "Content-Length \(lengths.joined(separator: ", ")) and Transfer-Encoding \(te) in one request; "
                        + "frame the body with one of them")
            }
            let list = codings.flatMap { $0.split(separator: ",") }.map { $0.trimmingSpaces().lowercased() }
            if list.last != "chunked" {
                throw HTTPError.badFraming("Transfer-Encoding \(te) does not end in chunked, so the body's length is unknown; "
                                           + "send chunked or Content-Length")
            }
            if list.count > 1 {
                throw HTTPError.badFraming("Transfer-Encoding \(te) is not supported; send the body chunked once, "
                                           + "without other codings", status: .notImplemented)
            }
        }
        guard !lengths.isEmpty else { return }
        if Set(lengths).count > 1 {
            throw HTTPError.badFraming("conflicting Content-Length headers: \(lengths.joined(separator: ", "))")
        }
        if head.contentLength == nil {
            throw HTTPError.badFraming("Content-Length \(lengths[0]) is not a non-negative integer")
        }
    }

    package func receive(_ chunk: UnsafeRawBufferPointer) {
        received += chunk.count
        guard case .reading(let h) = state else { return }
        if received > router.maxBodyBytes {
            h.abandon()
            acceptedBytes = received - chunk.count
            state = .draining(HTTPError.contentTooLarge(limit: router.maxBodyBytes).response)
            return
        }
        do {
            try h.consume(chunk)
        } catch {
            h.abandon()
            acceptedBytes = received
            state = .draining(response(for: error))
        }
    }

    package func finish() -> Response {
        switch state {
        case .reading(let h):
            do { return complete(try h.finish()) } catch { return complete(response(for: error)) }
        case .draining(let r):
            return complete(r)
        case .idle, .done:
            return response ?? complete(HTTPError.internalError("request finished before it started").response)
        }
    }

    /// The connection ended without a response being sent (client gone, time-out, shutdown).
    func abandon() {
        if case .reading(let h) = state { h.abandon() }
        state = .done
    }

    private func complete(_ r: Response) -> Response {
        state = .done
        response = r
        router.metrics?.recordRequest(route: pattern?.text, method: head.method, status: r.status)
        return r
    }

    private func response(for error: any Error) -> Response {
        let e = HTTPError.from(error)
        if e.status == .internalServerError, !(error is HTTPError) {
            router.onUnexpectedError?(error, head)
        }
        return e.response
    }
}
