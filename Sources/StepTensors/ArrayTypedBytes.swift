/// `withUnsafeBytes` that keeps a typed error: the standard library's version rethrows
/// `any Error`, which would erase `SafetensorsError` / `FileIOError` at every buffer access.
extension Array {
    func withBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let r = withUnsafeBytes { raw in Result { () throws(E) in try body(raw) } }
        return try r.get()
    }

    mutating func withMutableBytes<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let r = withUnsafeMutableBytes { raw in Result { () throws(E) in try body(raw) } }
        return try r.get()
    }
}
