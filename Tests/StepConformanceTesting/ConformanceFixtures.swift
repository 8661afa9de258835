import Foundation
import StepConformance
import StepCore
import StepJSON
import StepKernels

/// The recorded cases in `../shared/conformance/` and its `catalogue/`, and what the tests of
/// every layer check about them beyond passing: which cases this build cannot run yet, and
/// that the reason given is real.
public enum ConformanceFixtures {
    /// `../shared/conformance`, beside the package root.
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // StepConformanceTesting
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // package root
        .appendingPathComponent("../shared/conformance").standardizedFileURL

    /// The directories of cases: the torch.optim core and the catalogue.
    public static let directories: [URL] = [root, root.appendingPathComponent("catalogue")]

    /// Every case file, relative to `root` (`adagrad.json`, `catalogue/lion.json`). When the
    /// cases are missing, one name saying so, so that a parameterized test fails instead of
    /// running nothing.
    public static let caseFiles: [String] = {
        let files = (try? ConformanceCase.files(paths: directories.map(\.path))) ?? []
        let names = files.map { String($0.standardizedFileURL.path.dropFirst(root.path.count + 1)) }
        return names.isEmpty ? ["<no conformance cases in \(root.path)>"] : names
    }()

    public static func load(_ file: String) throws -> ConformanceCase {
        try ConformanceCase(contentsOf: root.appendingPathComponent(file))
    }

    /// The cases this build cannot run yet. Remove a name when its case runs.
    public static let expectedNotYet: Set<String> = []

    /// Nil when a not-yet result is justified: its reason names a field of the case's session
    /// holding an optimizer type, a group type or a state precision that `Optimizers` does not
    /// have, and the library itself refuses the session. Otherwise what is wrong, so that a
    /// case that should run cannot hide behind "not yet".
    public static func notYetProblem(_ c: ConformanceCase, _ r: ConformanceResult) -> String? {
        guard let why = r.notYet else { return "\(c.name) [\(r.layer)] ran; it is not a not-yet result" }
        var unknown: [(field: String, value: String)] = []
        if case .object(let o)? = c.session["optimizer"] {
            if case .string(let t)? = o["type"], Optimizers.named(t) == nil { unknown.append(("optimizer", t)) }
            if case .string(let d)? = o["state_dtype"], StateDType(rawValue: d) == nil { unknown.append(("state_dtype", d)) }
        }
        if case .array(let groups)? = c.session["groups"] {
            for (i, g) in groups.enumerated() {
                if case .string(let t)? = g["type"], Optimizers.named(t) == nil { unknown.append(("groups[\(i)].type", t)) }
            }
        }
        guard !unknown.isEmpty else {
            return "\(c.name) [\(r.layer)] is reported not yet (\(why)), but its session names no optimizer type, group type or state_dtype unknown to Optimizers"
        }
        guard unknown.contains(where: { why.contains($0.field) && why.contains($0.value) }) else {
            return "\(c.name) [\(r.layer)]: the reason \"\(why)\" names none of \(unknown.map { "\($0.field) \($0.value)" })"
        }
        if (try? SessionConfig.parse(c.session)) != nil {
            return "\(c.name) [\(r.layer)] is reported not yet (\(why)), but the library accepts its session"
        }
        return nil
    }

    /// A synthetic case of one SGD step whose recorded parameters are what the session
    /// produces except one element, one ulp up. Exact, it must fail on the bits; with
    /// `exact: false` its tolerance (rtol 1e-6) accepts it. Also returns that element's bits,
    /// produced and recorded.
    public static func oneULPOff(exact: Bool) throws -> (case: ConformanceCase, produced: UInt32, recorded: UInt32) {
        let session: JSONValue = ["optimizer": ["type": "sgd", "lr": 0.1, "momentum": 0.9],
                                  "params": [["name": "w", "shape": [2, 2], "values": [0.5, -1.25, 2.0, 0.3]]]]
        let grads: [Double] = [0.1, 0.7, -0.3, 1e-3]
        var driver = SessionDriver()
        try driver.create(session: ConformanceCase(json: ["session": session, "steps": []]))
        _ = try driver.step(grads: ["w": grads])
        let produced = try driver.params()["w"]!
        var recorded = produced
        recorded[1] = recorded[1].nextUp
        let json: JSONValue = [
            "name": "sgd_one_ulp_off", "exact": .bool(exact), "tolerance": ["rtol": 1e-6, "atol": 0],
            "session": session,
            "steps": [["index": 0, "grads": ["w": .array(grads.map { .number($0) })],
                       "expect": ["step": 1, "lr": 0.1, "params": ["w": .array(recorded.map { .number(Double($0)) })]]]],
        ]
        return (try ConformanceCase(json: json), produced[1].bitPattern, recorded[1].bitPattern)
    }
}
