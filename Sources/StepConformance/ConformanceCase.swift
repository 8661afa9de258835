import Foundation
import StepCore
import StepKernels
import StepJSON

/// One recorded torch.optim run from `shared/conformance/` (format in its README).
public struct ConformanceCase: Sendable {
    public struct Tolerance: Sendable {
        public var rtol: Double, atol: Double
        /// Closed-loop loss and grad norm, which follow the trajectory.
        public var lossRtol: Double?
        /// 8-bit state: the fraction of codes that must equal the recording's.
        public var codesMatch: Double?
        /// `|got - want| <= atol + rtol * |want|`
        public func accepts(_ got: Double, _ want: Double) -> Bool {
            if want.isNaN { return got.isNaN }
            return abs(got - want) <= atol + rtol * abs(want)
        }
    }

    public struct Expectation: Sendable {
        public var step: Int
        public var lr: Double?
        public var gradNorm: Double?
        public var loss: Double?
        public var skipped: Bool
        public var params: [String: [Double]]
        /// ASGD's averaged parameters (`GET .../params?view=average`).
        public var average: [String: [Double]]?
        /// Schedule-free's evaluation point x (`GET .../params?view=eval`).
        public var evalParams: [String: [Double]]?
        /// 8-bit state after the step: per tensor, per state name, codes and absmax (nil for a
        /// tensor the recording kept in float32, `"f32"` in the file).
        public var state: [String: [String: QuantizedState]?]?
    }

    public struct Step: Sendable {
        public var index: Int
        /// Nil in a closed loop: the client computes them.
        public var grads: [String: [Double]]?
        public var expect: Expectation
    }

    /// `grad = scale * (p - target)`, repeated `steps` times.
    public struct ClosedLoop: Sendable {
        public var steps: Int
        public var scale: [String: [Double]]
        public var target: [String: [Double]]
    }

    public var name: String
    /// The recorded parameters must be reproduced bit for bit (torch is reproducible there).
    public var exact: Bool
    public var tolerance: Tolerance
    /// The create-session body, exactly as recorded.
    public var session: JSONValue
    public var steps: [Step]
    public var closedLoop: ClosedLoop?

    public init(contentsOf url: URL) throws {
        let data = try Data(contentsOf: url)
        let json = try data.withUnsafeBytes { try JSONParser.parse($0) }
        try self.init(json: json, fallbackName: url.deletingPathExtension().lastPathComponent)
    }

    public init(json: JSONValue, fallbackName: String = "case") throws {
        guard case .string(let n)? = json["name"] ?? .string(fallbackName) else { throw JSONFieldError(field: "name", "expected a string") }
        name = n
        if case .bool(let e)? = json["exact"] { exact = e } else { exact = false }
        var t = try JSONObjectReader(json["tolerance"] ?? [:], path: "tolerance")
        tolerance = Tolerance(rtol: try t.double("rtol") ?? 0, atol: try t.double("atol") ?? 0, lossRtol: try t.double("loss_rtol"),
                              codesMatch: try t.double("codes_match"))
        guard let s = json["session"] else { throw JSONFieldError(field: "session", "is required") }
        session = s
        guard case .array(let rawSteps)? = json["steps"] else { throw JSONFieldError(field: "steps", "is required (an array)") }
        steps = try rawSteps.enumerated().map { i, raw in
            let path = "steps[\(i)]"
            let e = raw["expect"] ?? [:]
            var r = try JSONObjectReader(e, path: "\(path).expect")
            let expect = Expectation(step: try r.int("step") ?? 0, lr: try r.double("lr"), gradNorm: try r.double("grad_norm"),
                                     loss: try r.double("loss"), skipped: try r.bool("skipped") ?? false,
                                     params: try ConformanceCase.tensors(r.value("params"), path: "\(path).expect.params") ?? [:],
                                     average: try ConformanceCase.tensors(r.value("average"), path: "\(path).expect.average"),
                                     evalParams: try ConformanceCase.tensors(r.value("eval_params"), path: "\(path).expect.eval_params"),
                                     state: try ConformanceCase.quantizedState(r.value("state"), path: "\(path).expect.state"))
            var index = i
            if case .number(let x)? = raw["index"] { index = Int(x) }
            return Step(index: index, grads: try ConformanceCase.tensors(raw["grads"], path: "\(path).grads"), expect: expect)
        }
        if let loop = json["closed_loop"] {
            var r = try JSONObjectReader(loop, path: "closed_loop")
            closedLoop = ClosedLoop(steps: try r.int("steps") ?? 0,
                                    scale: try ConformanceCase.tensors(r.value("scale"), path: "closed_loop.scale") ?? [:],
                                    target: try ConformanceCase.tensors(r.value("target"), path: "closed_loop.target") ?? [:])
        }
    }

    /// Why this build cannot replay the case yet, if it cannot: it needs an optimizer (for the
    /// session or a group) or a state precision that does not exist yet. Nil for every
    /// case it can run, which must then pass.
    public var notYetSupported: String? {
        if case .object(let o)? = session["optimizer"] {
            if case .string(let type)? = o["type"], Optimizers.named(type) == nil {
                return "optimizer \"\(type)\" does not exist yet"
            }
            if let d = o["state_dtype"], !StateDType.allCases.contains(where: { d == .string($0.rawValue) }) {
                return "optimizer state_dtype \(d.preview) does not exist yet"
            }
        }
        if case .array(let groups)? = session["groups"] {
            for (i, g) in groups.enumerated() {
                if case .string(let type)? = g["type"], Optimizers.named(type) == nil {
                    return "groups[\(i)].type \"\(type)\" does not exist yet"
                }
            }
        }
        return nil
    }

    /// `expect.state`: per tensor `"f32"`, or `{"<state>_codes": [...], "<state>_absmax": [...]}`.
    static func quantizedState(_ value: JSONValue?, path: String) throws -> [String: [String: QuantizedState]?]? {
        guard let value else { return nil }
        guard case .object(let o) = value else { throw JSONFieldError(field: path, "expected an object of tensors") }
        var out: [String: [String: QuantizedState]?] = [:]
        for (tensor, v) in o.pairs {
            if v == .string("f32") {
                out[tensor] = .some(nil)
                continue
            }
            guard case .object(let parts) = v else { throw JSONFieldError(field: "\(path).\(tensor)", "expected \"f32\" or an object") }
            var roles: [String: QuantizedState] = [:]
            for (key, _) in parts.pairs where key.hasSuffix("_codes") {
                let role = String(key.dropLast("_codes".count))
                let numbers = try tensors(.object(JSONObject([("codes", parts[key] ?? .null), ("absmax", parts["\(role)_absmax"] ?? .null)])),
                                          path: "\(path).\(tensor).\(role)") ?? [:]
                guard let codes = numbers["codes"], let absmax = numbers["absmax"] else {
                    throw JSONFieldError(field: "\(path).\(tensor).\(role)_absmax", "is required next to \(key)")
                }
                roles[role] = QuantizedState(codes: codes.map { UInt8(clamping: Int($0)) }, absmax: absmax.map { Float($0) })
            }
            out[tensor] = roles
        }
        return out
    }

    static func tensors(_ value: JSONValue?, path: String) throws -> [String: [Double]]? {
        guard let value else { return nil }
        guard case .object(let o) = value else { throw JSONFieldError(field: path, "expected an object of tensors") }
        var out: [String: [Double]] = [:]
        for (k, v) in o.pairs {
            guard case .array(let a) = v else { throw JSONFieldError(field: "\(path).\(k)", "expected an array") }
            out[k] = try a.enumerated().map { i, x in try JSONObjectReader.number(x, field: "\(path).\(k)[\(i)]") }
        }
        return out
    }

    /// Every `*.json` case in the given files and directories (not their subdirectories), in
    /// the order given, each directory's sorted by file name.
    public static func load(paths: [String]) throws -> [ConformanceCase] {
        try files(paths: paths).map { try ConformanceCase(contentsOf: $0) }
    }

    /// The case files `load(paths:)` reads.
    public static func files(paths: [String]) throws -> [URL] {
        var files: [URL] = []
        for p in paths {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: p, isDirectory: &isDir) else {
                throw JSONFieldError(field: "", "no such file or directory: \(p)")
            }
            if isDir.boolValue {
                let names = try FileManager.default.contentsOfDirectory(atPath: p).filter { $0.hasSuffix(".json") }.sorted()
                files += names.map { URL(fileURLWithPath: p).appendingPathComponent($0) }
            } else {
                files.append(URL(fileURLWithPath: p))
            }
        }
        return files
    }
}
