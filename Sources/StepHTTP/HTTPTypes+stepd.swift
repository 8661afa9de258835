import HTTPTypes

extension HTTPField.Name {
    /// Makes a retried `POST .../steps` return the stored answer instead of stepping twice.
    public static var idempotencyKey: Self { Self("Idempotency-Key")! }
    /// RFC 9110's hint on a 415: which media types a POST would have accepted.
    public static var acceptPost: Self { Self("Accept-Post")! }
    /// Keeps session URLs out of the Referer a dashboard page's links would send.
    public static var referrerPolicy: Self { Self("Referrer-Policy")! }
}

extension HTTPResponse.Status {
    /// RFC 4918's 507, which HTTPTypes does not name: the snapshot disk is full.
    public static var insufficientStorage: Self { .init(code: 507, reasonPhrase: "Insufficient Storage") }
}
