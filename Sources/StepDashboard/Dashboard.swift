import Foundation
import StepHTTP
import StepDashboardFiles

/// The dashboard: three HTML pages and their scripts, styles and charting library, all compiled
/// into the binary (StepDashboardFiles), served at fixed paths. The pages read the JSON API with
/// the browser's own requests, so they need no key themselves: the token a person types is
/// kept in the tab's session storage and sent on every `/v1` request (see web/api.js).
///
/// - `GET /`: every session in a table;
/// - `GET /sessions/{id}`: one session's charts, following the run;
/// - `GET /compare?ids=a,b`: loss curves of several sessions overlaid;
/// - `GET /assets/<name>`: the scripts, styles and icon those pages load.
public enum Dashboard {
    /// Every embedded file by name, read once; the `.html` files are parts of pages.
    public static let files: [String: DashboardFile] = {
        var count = 0
        guard let table = stepd_dashboard_files(&count) else { return [:] }
        var byName: [String: DashboardFile] = [:]
        for entry in UnsafeBufferPointer(start: table, count: count) {
            let name = String(cString: entry.name)
            byName[name] = DashboardFile(name: name, bytes: Array(UnsafeBufferPointer(start: entry.bytes, count: entry.count)))
        }
        return byName
    }()

    /// Each page's path, its name (`<name>.html` is its `<main>`, `/assets/<name>.js` its
    /// module) and title. The session id in `/sessions/{id}` is read by the page's script, which
    /// reports an unknown session as the API does.
    public static let pages: [(path: String, name: String, title: String)] = [
        ("/", "sessions", "stepd · sessions"),
        ("/sessions/{id}", "session", "stepd · session"),
        ("/compare", "compare", "stepd · compare"),
    ]

    public static let assetPrefix = "/assets/"

    /// A page: the frame every page shares (`page.html`: head, header, token field) around the
    /// page's own `<main>`, put together once, at start-up.
    public static func page(_ name: String, title: String) -> DashboardFile {
        guard let frame = files["page.html"], let main = files[name + ".html"] else {
            preconditionFailure("dashboard page \(name) is not embedded")
        }
        let html = String(decoding: frame.bytes, as: UTF8.self)
            .replacingOccurrences(of: "{{title}}", with: title)
            .replacingOccurrences(of: "{{script}}", with: assetPrefix + name + ".js")
            .replacingOccurrences(of: "{{main}}", with: String(decoding: main.bytes, as: UTF8.self))
        return DashboardFile(name: name + ".html", bytes: Array(html.utf8))
    }

    public static func addRoutes(to router: inout Router) {
        for (path, name, title) in pages {
            let file = page(name, title: title)
            router.get(path) { head, _ in .respond(file.response(to: head)) }
        }
        for file in files.values where !file.isPage {
            router.get(assetPrefix + file.name) { head, _ in .respond(file.response(to: head)) }
        }
    }
}
