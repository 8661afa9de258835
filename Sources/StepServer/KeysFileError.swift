import StepHTTP

/// Why a keys file was refused, naming the file and the field (`keys[2].role`). At start-up
/// it stops the server; on SIGHUP it is logged and the keys already loaded stay in force.
public struct KeysFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public let path: String
    /// The JSON path of the offending member; empty when the file as a whole is at fault.
    public let field: String
    public let message: String

    public init(path: String, field: String = "", _ message: String) {
        self.path = path
        self.field = field
        self.message = message
    }

    public var description: String {
        "keys file \(path): " + (field.isEmpty ? message : "\(field): \(message)")
    }
}
