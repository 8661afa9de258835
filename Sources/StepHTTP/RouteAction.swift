import StepJSON
import HTTPTypes

/// What a route decides from the head alone: answer now, or read the body into a handler.
/// Splitting the decision this way lets a route refuse a 40 MB upload (404, 415, 412) before
/// a byte of it is read, and lets an accepted one go straight to its destination.
public enum RouteAction {
    case respond(Response)
    case readBody(any RequestBodyHandler)

    public static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> RouteAction {
        .respond(.json(value, status: status, headers: headers))
    }
}
