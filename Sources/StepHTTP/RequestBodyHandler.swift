/// Receives a request body as it arrives, so a large upload can be decoded straight into its
/// destination (a session's gradient buffer) instead of being collected first and copied.
///
/// The router calls `consume` for each chunk in order, then exactly one of `finish` (the body
/// is complete and within limits) or `abandon` (a chunk was refused, the body went over the
/// size limit, or the connection died), so a handler holding a lock or a half-written buffer
/// can always release or roll back. Calls for one request never overlap.
public protocol RequestBodyHandler: AnyObject {
    /// Throwing refuses the body: the rest is read and discarded, and the error's problem is
    /// the response.
    func consume(_ chunk: UnsafeRawBufferPointer) throws
    func finish() throws -> Response
    func abandon()
}

extension RequestBodyHandler {
    public func abandon() {}
}
