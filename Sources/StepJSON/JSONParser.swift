import CJansson

/// Why a body is not JSON, with jansson's position so a client can find the byte.
public struct JSONSyntaxError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public let line: Int
    public let column: Int
    public let position: Int
    public var description: String { "\(message) at line \(line), column \(column) (byte \(position))" }
}

/// Parses small documents (configs, metadata, short bodies) into Swift values.
public enum JSONParser {
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONSyntaxError) -> JSONValue {
        let document = try JSONDocument(parsing: bytes)
        return withExtendedLifetime(document) { document.root.value }
    }

    public static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(JSONSyntaxError) in try parse(raw) } }
        return try result.get()
    }

    public static func parse(_ text: String) throws(JSONSyntaxError) -> JSONValue {
        try parse(Array(text.utf8))
    }
}
