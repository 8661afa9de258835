import StepJSON
import StepKernels

/// What to do with a gradient holding NaN or Inf.
public enum NonFinitePolicy: String, Sendable, CaseIterable {
    /// Skip the whole step: parameters, state and step counter stay; the skip is recorded.
    case skip
    /// Refuse the request (422).
    case error
}

/// `"accumulation": {"micro_batches": K, "workers": W}`: a step applies the mean of K×W posts.
public struct AccumulationConfig: Sendable, Equatable {
    public var microBatches = 1
    public var workers = 1
    public var contributions: Int { microBatches * workers }
}

/// `"snapshot": {"every_steps": N, "interval_s": T}`; nil fields fall back to the server's flags.
/// StepCore only carries these; StepStore and the server act on them.
public struct SnapshotPolicy: Sendable, Equatable {
    public var everySteps: Int?
    public var intervalSeconds: Double?
    public init(everySteps: Int? = nil, intervalSeconds: Double? = nil) {
        self.everySteps = everySteps
        self.intervalSeconds = intervalSeconds
    }
}

/// A validated session configuration: the create-session body (a conformance file's `session`
/// object) minus parameter values. Parsing checks everything and names the offending field, so a
/// session is either created whole or not at all.
public struct SessionConfig: Sendable {
    public var optimizer: OptimizerConfig
    public var schedule: any LearningRateSchedule
    /// `clip.max_norm`: clip the global L2 norm of all gradients to this.
    public var clipMaxNorm: Double?
    /// Group 0 is `default` (the optimizer's own settings), then the declared groups.
    public var groups: [ParamGroup]
    public var layout: TensorLayout
    public var accumulation: AccumulationConfig
    public var nonFinite: NonFinitePolicy
    public var snapshot: SnapshotPolicy
    public var historyCapacity: Int
    /// `max_staleness: k`: a step whose gradient was computed from parameters more than k steps
    /// old (`based_on`) is refused; nil accepts any.
    public var maxStaleness: Int? = nil
    /// Where the optimizer state lives, from the groups' optimizers and the tensors' shapes.
    public let stateLayout: StateLayout

    init(optimizer: OptimizerConfig, schedule: any LearningRateSchedule, clipMaxNorm: Double?, groups: [ParamGroup],
         layout: TensorLayout, accumulation: AccumulationConfig, nonFinite: NonFinitePolicy, snapshot: SnapshotPolicy,
         historyCapacity: Int) {
        self.optimizer = optimizer
        self.schedule = schedule
        self.clipMaxNorm = clipMaxNorm
        self.groups = groups
        self.layout = layout
        self.accumulation = accumulation
        self.nonFinite = nonFinite
        self.snapshot = snapshot
        self.historyCapacity = historyCapacity
        stateLayout = StateLayout(groups: groups, layout: layout)
    }

    public static let topLevelKeys = ["optimizer", "schedule", "clip", "groups", "params", "accumulation", "nonfinite", "snapshot", "history", "max_staleness"]

    /// Parses a create body; also returns how each tensor's first values are made.
    public static func parse(_ value: JSONValue) throws(SessionError) -> (SessionConfig, [ParamInit]) {
        do {
            return try parseFields(value)
        } catch {
            throw SessionError(error)
        }
    }

    private static func parseFields(_ value: JSONValue) throws(JSONFieldError) -> (SessionConfig, [ParamInit]) {
        var r = try JSONObjectReader(value, path: "")
        let optimizer = try OptimizerConfig.parse(r.value("optimizer"), path: "optimizer")
        let schedule = try LearningRateSchedules.parse(r.value("schedule"), path: "schedule")

        var clip: Double? = nil
        if var c = try r.object("clip") {
            clip = try c.number("max_norm", default: .nan, "a number > 0") { $0 > 0 }
            if let t = try c.double("norm_type"), t != 2 {
                throw JSONFieldError(field: "clip.norm_type", "only the L2 norm (2) is supported, got \(t)")
            }
            try c.finish()
        }

        var groups = [ParamGroup(name: "default", overrides: JSONObject(), kind: optimizer.kind, hyper: optimizer.hyper, stateDType: optimizer.stateDType)]
        for (i, g) in (try r.array("groups") ?? []).enumerated() {
            var gr = try JSONObjectReader(g, path: "groups[\(i)]")
            let name = try gr.string("name") ?? ""
            if let problem = TensorName.problem(name) { throw JSONFieldError(field: "groups[\(i)].name", problem) }
            guard !groups.contains(where: { $0.name == name }) else {
                throw JSONFieldError(field: "groups[\(i)].name", "duplicate group name \"\(name)\"")
            }
            var kind = optimizer.kind
            let hyper: any OptimizerHyperparameters
            let stateDType: StateDType
            if let type = try gr.string("type") {
                guard let k = Optimizers.named(type) else {
                    throw JSONFieldError(field: gr.field("type"), "unknown optimizer \"\(type)\"; expected one of \(Optimizers.types.joined(separator: ", "))")
                }
                kind = k
                // Like its other fields, a typed group's state_dtype defaults to its own
                // optimizer's default (f32), not the session's.
                stateDType = try OptimizerConfig.readStateDType(&gr, kind: k, default: .f32)
                hyper = try k.read(&gr, over: k.defaults)
            } else {
                stateDType = try OptimizerConfig.readStateDType(&gr, kind: optimizer.kind, default: optimizer.stateDType)
                hyper = try optimizer.group(&gr)
            }
            try gr.finish()
            var overrides = JSONObject(gr.object.pairs.filter { $0.value != .null }.map { ($0.key, $0.value) })
            overrides["name"] = nil
            if overrides["type"] != nil {
                // A group of its own type echoes every field: its defaults are not the session's.
                overrides = JSONObject([("type", .string(kind.type))] + kind.json(hyper).pairs.map { ($0.key, $0.value) })
                if stateDType != .f32 { overrides["state_dtype"] = .string(stateDType.rawValue) }
            }
            groups.append(ParamGroup(name: name, overrides: overrides, kind: kind, hyper: hyper, stateDType: stateDType))
        }

        guard let params = try r.array("params") else {
            throw JSONFieldError(field: "params", "is required (an array of {name, shape, values|init})")
        }
        var specs: [(name: String, shape: [Int], group: Int)] = []
        var inits: [ParamInit] = []
        var names = Set<String>()
        var total = 0
        for (i, p) in params.enumerated() {
            let path = "params[\(i)]"
            var pr = try JSONObjectReader(p, path: path)
            let name = try pr.string("name") ?? ""
            if let problem = TensorName.problem(name) { throw JSONFieldError(field: "\(path).name", problem) }
            guard names.insert(name).inserted else {
                throw JSONFieldError(field: "\(path).name", "duplicate tensor name \"\(name)\"")
            }
            let shapeValues = try pr.array("shape") ?? []
            var shape: [Int] = []
            for (k, d) in shapeValues.enumerated() {
                guard case .number(let x) = d, x >= 0, x == x.rounded(), x < 1e12 else {
                    throw JSONFieldError(field: "\(path).shape[\(k)]", "expected a dimension (an integer >= 0), got \(d.preview)")
                }
                shape.append(Int(x))
            }
            guard pr.has("shape") else { throw JSONFieldError(field: "\(path).shape", "is required (e.g. [3, 7], or [] for a scalar)") }
            var count = 1
            for d in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow, product <= 1 << 40 else {
                    throw JSONFieldError(field: "\(path).shape", "shape \(shape) is more than stepd can hold (at most 2^40 elements per tensor)")
                }
                count = product
            }
            var group = 0
            if let g = try pr.string("group") {
                guard let gi = groups.firstIndex(where: { $0.name == g }) else {
                    throw JSONFieldError(field: "\(path).group", "unknown group \"\(g)\"; declared groups: \(groups.map(\.name).joined(separator: ", "))")
                }
                group = gi
            }
            if let problem = groups[group].kind.problem(shape: shape) {
                throw JSONFieldError(field: path, "tensor \"\(name)\" has shape \(shape), and its group \"\(groups[group].name)\" runs \(groups[group].kind.type): \(problem)")
            }
            if let values = try pr.array("values") {
                guard values.count == count else {
                    throw JSONFieldError(field: "\(path).values", "has \(values.count) values, shape \(shape) needs \(count)")
                }
                var floats = [Float]()
                floats.reserveCapacity(count)
                for (k, v) in values.enumerated() {
                    let d = try JSONObjectReader.number(v, field: "\(path).values[\(k)]")
                    guard d.isFinite else { throw JSONFieldError(field: "\(path).values[\(k)]", "must be finite, got \(d)") }
                    floats.append(Float(d))
                }
                if pr.has("init") { throw JSONFieldError(field: "\(path).init", "give either values or init, not both") }
                inits.append(.values(floats))
            } else if let i = pr.value("init") {
                inits.append(try ParamInit.parse(i, path: "\(path).init"))
            } else {
                inits.append(.zeros)
            }
            try pr.finish()
            let (sum, overflow) = total.addingReportingOverflow(count)
            guard !overflow, sum <= 1 << 40 else {
                throw JSONFieldError(field: "params", "the tensors hold more elements than stepd can hold (at most 2^40 in a session)")
            }
            total = sum
            specs.append((name, shape, group))
        }

        var accumulation = AccumulationConfig()
        if var a = try r.object("accumulation") {
            accumulation.microBatches = try a.integer("micro_batches", default: 1, "an integer in 1...65536") { (1...65536).contains($0) }
            accumulation.workers = try a.integer("workers", default: 1, "an integer in 1...65536") { (1...65536).contains($0) }
            try a.finish()
            guard accumulation.contributions <= 1 << 20 else {
                throw JSONFieldError(field: "accumulation", "micro_batches × workers = \(accumulation.contributions) is over 1048576")
            }
        }

        var nonFinite = NonFinitePolicy.skip
        if let n = try r.string("nonfinite") {
            guard let p = NonFinitePolicy(rawValue: n) else {
                throw JSONFieldError(field: "nonfinite", "expected \"skip\" or \"error\", got \"\(n)\"")
            }
            nonFinite = p
        }

        let snapshot = try parseSnapshot(&r)

        var historyCapacity = 10_000
        if var h = try r.object("history") {
            historyCapacity = try h.integer("capacity", default: historyCapacity, "an integer in 1...1000000") { (1...1_000_000).contains($0) }
            try h.finish()
        }
        var maxStaleness: Int? = nil
        if r.has("max_staleness") {
            maxStaleness = try r.integer("max_staleness", default: 0, "an integer >= 0 (steps a gradient may lag behind)") { $0 >= 0 }
        }
        try r.finish()
        var config = SessionConfig(optimizer: optimizer, schedule: schedule, clipMaxNorm: clip, groups: groups,
                                   layout: TensorLayout(specs), accumulation: accumulation, nonFinite: nonFinite,
                                   snapshot: snapshot, historyCapacity: historyCapacity)
        config.maxStaleness = maxStaleness
        return (config, inits)
    }

    static func parseSnapshot(_ r: inout JSONObjectReader) throws(JSONFieldError) -> SnapshotPolicy {
        var policy = SnapshotPolicy()
        if var s = try r.object("snapshot") {
            if s.has("every_steps") { policy.everySteps = try s.integer("every_steps", default: 0, "an integer >= 0 (0 turns it off)") { $0 >= 0 } }
            if s.has("interval_s") { policy.intervalSeconds = try s.number("interval_s", default: 0, "a number >= 0 (0 turns it off)") { $0 >= 0 } }
            try s.finish()
        }
        return policy
    }

    /// The learning rate group `g` uses for zero-based step `t`.
    public func lr(group g: Int, step t: Int) -> Double { groups[g].hyper.lr * schedule.factor(t) }

    /// The config as JSON, without parameter values: what GET shows and what a snapshot stores.
    public var json: JSONValue {
        var o = JSONObject()
        o["optimizer"] = optimizer.json
        o["schedule"] = LearningRateSchedules.json(schedule)
        if let clipMaxNorm { o["clip"] = ["max_norm": .number(clipMaxNorm)] }
        o["groups"] = .array(groups.dropFirst().map { g in
            var go = JSONObject([("name", .string(g.name))])
            for (k, v) in g.overrides.pairs { go[k] = v }
            return .object(go)
        })
        o["params"] = .array(layout.tensors.map { t in
            var p = JSONObject([("name", .string(t.name)), ("shape", .array(t.shape.map { .number(Double($0)) }))])
            if t.group != 0 { p["group"] = .string(groups[t.group].name) }
            return .object(p)
        })
        o["accumulation"] = ["micro_batches": .number(Double(accumulation.microBatches)), "workers": .number(Double(accumulation.workers))]
        o["nonfinite"] = .string(nonFinite.rawValue)
        var snap = JSONObject()
        if let e = snapshot.everySteps { snap["every_steps"] = .number(Double(e)) }
        if let i = snapshot.intervalSeconds { snap["interval_s"] = .number(i) }
        o["snapshot"] = .object(snap)
        o["history"] = ["capacity": .number(Double(historyCapacity))]
        if let maxStaleness { o["max_staleness"] = .number(Double(maxStaleness)) }
        return .object(o)
    }

    /// Keys a PATCH may change. Parameters, the optimizer type and accumulation shape are fixed
    /// for a session's life: changing them would orphan the optimizer state.
    public static let patchableKeys: Set<String> = ["optimizer", "schedule", "clip", "groups", "nonfinite", "snapshot", "history", "max_staleness"]

    /// Applies a JSON merge patch (RFC 7396) and re-validates the whole result.
    public func patched(with patch: JSONValue) throws(SessionError) -> SessionConfig {
        guard case .object(let p) = patch else {
            throw SessionError.invalid(field: "", detail: "expected a JSON object (a merge patch of the config), got \(patch.typeName)")
        }
        for key in p.keys where !SessionConfig.patchableKeys.contains(key) {
            let why = SessionConfig.topLevelKeys.contains(key) ? "cannot be changed after the session is created" : "unknown field"
            throw SessionError.invalid(field: key, detail: "\(why); a PATCH may change \(SessionConfig.patchableKeys.sorted().joined(separator: ", "))")
        }
        if case .object(let o)? = p["optimizer"], let t = o["type"], t != .string(optimizer.type) {
            throw SessionError.invalid(field: "optimizer.type", detail: "cannot be changed from \"\(optimizer.type)\" after the session is created")
        }
        // Merging keeps the current schedule's fields; a schedule of another type starts from
        // its own fields only (a patch without "type" keeps the type).
        var body = JSONValue.mergePatch(json, patch)
        if case .object(let ps)? = p["schedule"], let newType = ps["type"], newType != .string(type(of: schedule).type),
           case .object(var o) = body {
            o["schedule"] = .object(ps)
            body = .object(o)
        }
        let (next, _) = try SessionConfig.parse(body)
        guard next.layout == layout else {
            throw SessionError.invalid(field: "params", detail: "cannot be changed by PATCH")
        }
        for (i, now) in next.groups.enumerated().dropFirst() {
            if let then = groups.first(where: { $0.name == now.name }), now.kind.type != then.kind.type {
                throw SessionError.invalid(field: "groups[\(i - 1)].type", detail: "cannot be changed from \"\(then.kind.type)\" after the session is created (its optimizer state would be orphaned)")
            }
        }
        guard next.stateLayout.sameShapes(as: stateLayout) else {
            throw SessionError.invalid(field: "groups", detail: "the change moves parameters between optimizers, whose state this session was not created with; set groups' optimizers at creation")
        }
        return next
    }
}

extension JSONValue {
    /// RFC 7396: objects merge key by key, `null` deletes, anything else replaces.
    public static func mergePatch(_ target: JSONValue, _ patch: JSONValue) -> JSONValue {
        guard case .object(let p) = patch else { return patch }
        var result: JSONObject
        if case .object(let t) = target { result = t } else { result = JSONObject() }
        for (k, v) in p.pairs {
            if v == .null { result[k] = nil } else { result[k] = mergePatch(result[k] ?? .null, v) }
        }
        return .object(result)
    }
}

extension SessionConfig {
    /// The optimizer state tensors this config keeps (one buffer each, over every tensor), by
    /// torch's names, in kernel slot order.
    public var stateNames: [String] { stateLayout.used }

    /// Bytes a session with this config holds: parameters, optimizer state, one gradient
    /// buffer, and the accumulation sum when it accumulates. Limits are checked against this
    /// before anything is allocated.
    public var residentBytes: Int {
        let floatBuffers = 2 + (accumulation.contributions > 1 ? 1 : 0)
        return layout.count * 4 * floatBuffers + stateLayout.usedByteCount
    }
}
