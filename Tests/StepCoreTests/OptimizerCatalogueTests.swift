import StepJSON
import StepKernels
import Testing
@testable import StepCore

/// Every optimizer in `Optimizers.all` works with everything a session offers: groups with their
/// own hyperparameters, schedules, clipping, accumulation, non-finite skipping, capture and
/// restore (state tensors and per-group scalars), PATCH, and bad input refused naming the field.
@Suite struct OptimizerCatalogueTests {
    static let types = Optimizers.types

    /// A session body for `type`: `b` in a group that overrides lr, with a warmup schedule and
    /// clipping. For Muon, which takes matrices only, `b` is 2x2.
    static func body(_ type: String, optimizer extra: String = "", session: String = "") -> String {
        let body = Fixture.adamw(optimizer: #"{"type": "\#(type)", "lr": 0.01\#(extra)}"#,
                                 extra: #", "schedule": {"type": "warmup_cosine", "warmup_steps": 2, "total_steps": 10}, "clip": {"max_norm": 0.5}\#(session)"#,
                                 bGroup: "g", groups: #"[{"name": "g", "lr": 0.005}]"#)
        return type == MuonOptimizer.type ? body.replacingOccurrences(of: #""name": "b", "shape": [4]"#, with: #""name": "b", "shape": [2, 2]"#) : body
    }

    @Test("the catalogue lists each type once, and each names its reference and state", arguments: types)
    func catalogueEntriesAreWellFormed(_ type: String) throws {
        #expect(Optimizers.types.filter { $0 == type }.count == 1)
        let kind = try #require(Optimizers.named(type))
        #expect(!kind.reference.isEmpty)
        #expect(Set(kind.slotNames).count == kind.slotNames.count, "state names repeat: \(kind.slotNames)")
        #expect(kind.slotNames.count <= 4, "LaneBuffers holds four state slots")
    }

    @Test("defaults fill in, and the config's JSON parses back to the same config", arguments: types)
    func configRoundTrips(_ type: String) throws {
        let (c, _) = try Fixture.config(Self.body(type))
        #expect(c.optimizer.type == type)
        let again = try SessionConfig.parse(c.json).0
        #expect(again.optimizer == c.optimizer)
        #expect(again.json == c.json)
        // Every default is written out: the JSON names each field of the type, and state_dtype.
        guard case .object(let o) = c.optimizer.json else { Issue.record("not an object"); return }
        let kind = try #require(Optimizers.named(type))
        #expect(Set(o.keys) == Set(["type", "state_dtype"] + Array(kind.json(kind.defaults).keys)))
        #expect(o["state_dtype"] == .string("f32"))
    }

    @Test("ten steps move every parameter and keep them finite; the group's own lr is used", arguments: types)
    func stepsMoveParameters(_ type: String) throws {
        let s = try Fixture.session(Self.body(type))
        let before = try s.paramsByName()
        for k in 0..<10 {
            let o = try s.step(grads: Fixture.grads(k))
            #expect(o.applied && o.step == k + 1)
            #expect(o.groupLRs.map(\.group) == ["default", "g"])
        }
        let after = try s.paramsByName()
        for (name, values) in after {
            #expect(values.allSatisfy { $0.isFinite }, "\(type): \(name) \(values)")
            #expect(values != before[name], "\(type): \(name) did not move")
        }
    }

    @Test("capture and restore mid-run continue bit for bit like a twin that never stopped", arguments: types)
    func restoreContinuesLikeTwin(_ type: String) throws {
        let body = Self.body(type, session: #", "accumulation": {"micro_batches": 2, "workers": 1}"#)
        let original = try Fixture.session(body, id: "o"), twin = try Fixture.session(body, id: "t")
        for k in 0..<7 {
            _ = try original.step(grads: Fixture.grads(k))
            _ = try twin.step(grads: Fixture.grads(k))
        }
        let restored = try Session(restoring: original.capture(), parallel: Parallel(threads: 2, minimumPerThread: 16))
        #expect(SessionFingerprint(restored) == SessionFingerprint(twin))
        for k in 7..<14 {
            _ = try restored.step(grads: Fixture.grads(k))
            _ = try twin.step(grads: Fixture.grads(k))
        }
        #expect(SessionFingerprint(restored) == SessionFingerprint(twin))
        #expect(restored.step == 7)
    }

    @Test("a non-finite gradient is skipped whole: parameters, state and scalars stay", arguments: types)
    func nonFiniteSkipChangesNothing(_ type: String) throws {
        let s = try Fixture.session(Self.body(type))
        for k in 0..<3 { _ = try s.step(grads: Fixture.grads(k)) }
        let before = SessionFingerprint(s)
        var bad = Fixture.grads(3)
        bad["w"]![4] = .nan
        let o = try s.step(grads: bad)
        #expect(o.record?.skipped == true)
        var after = SessionFingerprint(s)
        after.historyCount -= 1
        #expect(after == before)
    }

    @Test("PATCH changes lr for the next step; the type cannot change", arguments: types)
    func patchLR(_ type: String) throws {
        let s = try Fixture.session(Self.body(type))
        _ = try s.step(grads: Fixture.grads(0))
        let next = try s.patch(Fixture.json(#"{"optimizer": {"lr": 0.02}}"#))
        #expect(next.optimizer.hyper.lr == 0.02)
        #expect(next.groups[1].hyper.lr == 0.005, "the group's own lr stays")
        let other = type == "sgd" ? "adamw" : "sgd"
        expectInvalid(field: "optimizer.type", mentioning: [type]) { _ = try s.patch(Fixture.json(#"{"optimizer": {"type": "\#(other)"}}"#)) }
    }

    @Test("an unknown hyperparameter is refused naming it and the known ones", arguments: types)
    func unknownHyperparameter(_ type: String) {
        expectInvalid(field: "optimizer.betaz", mentioning: ["lr"]) {
            _ = try Fixture.config(Self.body(type, optimizer: #", "betaz": 1"#))
        }
        expectInvalid(field: "groups[0].nesterovv", mentioning: []) {
            _ = try Fixture.config(Fixture.adamw(optimizer: #"{"type": "\#(type)"}"#, bGroup: "g", groups: #"[{"name": "g", "nesterovv": true}]"#))
        }
    }

    @Test("a negative lr is refused as optimizer.lr and as a group's lr", arguments: types)
    func negativeLR(_ type: String) {
        expectInvalid(field: "optimizer.lr", mentioning: ["-1"]) { _ = try Fixture.config(Fixture.adamw(optimizer: #"{"type": "\#(type)", "lr": -1}"#)) }
        expectInvalid(field: "groups[0].lr", mentioning: ["-1"]) {
            _ = try Fixture.config(Fixture.adamw(optimizer: #"{"type": "\#(type)"}"#, bGroup: "g", groups: #"[{"name": "g", "lr": -1}]"#))
        }
    }

    /// One out-of-range value per field an optimizer has beyond lr, with the field the error names.
    static let outOfRange: [(String, String, String)] = [
        ("adamw", #""betas": [0.9, 1.0]"#, "optimizer.betas[1]"), ("adam", #""eps": 0"#, "optimizer.eps"),
        ("sgd", #""nesterov": true"#, "optimizer.nesterov"), ("rmsprop", #""alpha": 1.5"#, "optimizer.alpha"),
        ("adagrad", #""lr_decay": -1"#, "optimizer.lr_decay"), ("adadelta", #""rho": 2"#, "optimizer.rho"),
        ("adamax", #""betas": [-0.1, 0.9]"#, "optimizer.betas[0]"), ("nadam", #""momentum_decay": -1"#, "optimizer.momentum_decay"),
        ("nadam", #""decoupled_weight_decay": 1"#, "optimizer.decoupled_weight_decay"),
        ("radam", #""weight_decay": -0.1"#, "optimizer.weight_decay"), ("asgd", #""t0": -5"#, "optimizer.t0"),
        ("asgd", #""lambd": "x""#, "optimizer.lambd"), ("rprop", #""etas": [1.5, 1.2]"#, "optimizer.etas[0]"),
        ("rprop", #""etas": [0.5, 0.9]"#, "optimizer.etas[1]"), ("rprop", #""step_sizes": [1, 0.5]"#, "optimizer.step_sizes"),
        ("rprop", #""step_sizes": [1]"#, "optimizer.step_sizes"), ("lion", #""betas": [0.9, 1.5]"#, "optimizer.betas[1]"),
        ("schedule_free_adamw", #""warmup_steps": -1"#, "optimizer.warmup_steps"),
        ("schedule_free_adamw", #""betas": [0, 0.999]"#, "optimizer.betas[0]"),
        ("schedule_free_adamw", #""weight_lr_power": -2"#, "optimizer.weight_lr_power"),
        ("adafactor", #""beta2_decay": 0.5"#, "optimizer.beta2_decay"), ("adafactor", #""eps": [null]"#, "optimizer.eps"),
        ("adafactor", #""eps": [-1, 0.001]"#, "optimizer.eps[0]"), ("adafactor", #""d": 0.5"#, "optimizer.d"),
        ("lamb", #""eps_root": -1"#, "optimizer.eps_root"), ("lamb", #""betas": [0.9, 1]"#, "optimizer.betas[1]"),
        ("muon", #""ns_steps": 100"#, "optimizer.ns_steps"), ("muon", #""ns_coefficients": [1, 2]"#, "optimizer.ns_coefficients"),
        ("muon", #""adjust_lr_fn": "sqrt""#, "optimizer.adjust_lr_fn"), ("muon", #""momentum": -0.5"#, "optimizer.momentum"),
    ]

    @Test("a value out of range is refused naming the field", arguments: outOfRange.indices)
    func valueOutOfRange(_ i: Int) {
        let (type, field, name) = Self.outOfRange[i]
        expectInvalid(field: name, mentioning: []) { _ = try Fixture.config(Self.body(type, optimizer: ", " + field)) }
    }

    @Test("every optimizer has at least one out-of-range case above")
    func outOfRangeCoversEveryOptimizer() {
        #expect(Set(Self.outOfRange.map(\.0)) == Set(Optimizers.types))
    }

    @Test("views: ASGD's average and schedule-free's eval point; others have none and say so")
    func views() throws {
        let asgd = try Fixture.session(Self.body("asgd", optimizer: #", "t0": 2"#))
        #expect(try asgd.readParams(view: "average").tensors.map(\.1) == asgd.readParams().tensors.map(\.1), "before any step the average is the parameters")
        for k in 0..<6 { _ = try asgd.step(grads: Fixture.grads(k)) }
        let average = try asgd.readParams(view: "average").tensors.map(\.1)
        #expect(average != (try asgd.readParams().tensors.map(\.1)), "after t0 the average lags the iterate")
        let sf = try Fixture.session(Self.body("schedule_free_adamw"))
        for k in 0..<3 { _ = try sf.step(grads: Fixture.grads(k)) }
        let y = try sf.readParams().tensors.flatMap(\.1), x = try sf.readParams(view: "eval").tensors.flatMap(\.1)
        #expect(x != y && x.allSatisfy { $0.isFinite })
        expectInvalid(field: "view", mentioning: ["eval", "asgd", "average"]) { _ = try asgd.readParams(view: "eval") }
        let adamw = try Fixture.session(Self.body("adamw"))
        expectInvalid(field: "view", mentioning: ["average", "none"]) { _ = try adamw.readParams(view: "average") }
    }

    @Test("a view streams the same bytes in any block size as the whole read")
    func viewStreamsLikeWholeRead() throws {
        let s = try Fixture.session(Self.body("schedule_free_adamw"))
        for k in 0..<3 { _ = try s.step(grads: Fixture.grads(k)) }
        let whole = try s.readParams(view: "eval").tensors.flatMap(\.1)
        for block in [1, 3, 7, 64] {
            let reader = try s.paramsReader(view: "eval")
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: block)
            while true {
                let n = try chunk.withUnsafeMutableBytes { try reader.read(at: bytes.count, into: $0) }
                if n == 0 { break }
                bytes += chunk[0..<n]
            }
            let floats = stride(from: 0, to: bytes.count, by: 4).map { i in
                Float(bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
            }
            #expect(floats.map(\.bitPattern) == whole.map(\.bitPattern), "block \(block)")
        }
    }
}
