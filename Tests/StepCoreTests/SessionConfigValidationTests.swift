import StepJSON
import Testing
@testable import StepCore

/// A bad create body is refused whole, with an error naming the field, the value and what is allowed.
@Suite struct SessionConfigValidationTests {
    static func create(optimizer: String = #""type": "adamw""#, params: String = #"[{"name": "w", "shape": [2], "values": [1, 2]}]"#,
                       extra: String = "") throws {
        _ = try Fixture.config(#"{"optimizer": {\#(optimizer)}, "params": \#(params)\#(extra)}"#)
    }

    @Test("a valid body parses with torch's defaults filled in")
    func validBodyGetsDefaults() throws {
        let (c, inits) = try Fixture.config(#"{"optimizer": {"type": "adamw"}, "params": [{"name": "w", "shape": [2, 3]}]}"#)
        #expect(c.optimizer.type == "adamw")
        let h = try #require(c.optimizer.hyper as? AdamHyperparameters)
        #expect(h.lr == 1e-3 && h.weightDecay == 1e-2)
        #expect(h.beta1 == 0.9 && h.beta2 == 0.999 && h.eps == 1e-8)
        #expect(c.layout.count == 6)
        #expect(inits == [.zeros])
        #expect(c.nonFinite == .skip)
        #expect(c.accumulation.contributions == 1)
    }

    @Test("lr -1 is refused as optimizer.lr")
    func negativeLR() {
        expectInvalid(field: "optimizer.lr", mentioning: ["-1", ">= 0"]) { try Self.create(optimizer: #""type": "adamw", "lr": -1"#) }
    }

    @Test("betas [0.9, 1.0] is refused as optimizer.betas[1]")
    func betaOfOne() {
        expectInvalid(field: "optimizer.betas[1]", mentioning: ["1.0", "[0, 1)"]) {
            try Self.create(optimizer: #""type": "adamw", "betas": [0.9, 1.0]"#)
        }
        expectInvalid(field: "optimizer.betas[0]", mentioning: ["-0.1"]) {
            try Self.create(optimizer: #""type": "adam", "betas": [-0.1, 0.9]"#)
        }
        expectInvalid(field: "optimizer.betas", mentioning: ["3"]) {
            try Self.create(optimizer: #""type": "adam", "betas": [0.1, 0.2, 0.3]"#)
        }
    }

    @Test("eps 0 is refused as optimizer.eps", arguments: ["adamw", "adam", "rmsprop", "adagrad"])
    func zeroEps(type: String) {
        expectInvalid(field: "optimizer.eps", mentioning: ["0", "> 0"]) { try Self.create(optimizer: #""type": "\#(type)", "eps": 0"#) }
    }

    @Test("an unknown optimizer is refused, naming the allowed ones")
    func unknownOptimizer() {
        expectInvalid(field: "optimizer.type", mentioning: ["sophia"] + Optimizers.types) {
            try Self.create(optimizer: #""type": "sophia""#)
        }
        expectInvalid(field: "optimizer.type", mentioning: ["required"]) { try Self.create(optimizer: #""lr": 0.1"#) }
    }

    @Test("a typo such as weight_decy is refused, naming it and suggesting weight_decay")
    func typoSuggestsClosest() {
        expectInvalid(field: "optimizer.weight_decy", mentioning: [#"did you mean "weight_decay""#]) {
            try Self.create(optimizer: #""type": "adamw", "weight_decy": 0.1"#)
        }
        expectInvalid(field: "groups[0].weight_decy", mentioning: [#"did you mean "weight_decay""#]) {
            try Self.create(extra: #", "groups": [{"name": "g", "weight_decy": 0}]"#)
        }
        expectInvalid(field: "param", mentioning: [#"did you mean "params""#]) {
            _ = try Fixture.config(#"{"optimizer": {"type": "sgd"}, "params": [], "param": []}"#)
        }
    }

    @Test("a hyperparameter of another optimizer is refused")
    func foreignHyperparameter() {
        expectInvalid(field: "optimizer.momentum", mentioning: ["unknown field"]) {
            try Self.create(optimizer: #""type": "adamw", "momentum": 0.9"#)
        }
        expectInvalid(field: "optimizer.betas", mentioning: ["unknown field"]) {
            try Self.create(optimizer: #""type": "sgd", "betas": [0.9, 0.99]"#)
        }
    }

    @Test("duplicate tensor names are refused")
    func duplicateTensorNames() {
        expectInvalid(field: "params[1].name", mentioning: [#""w""#]) {
            try Self.create(params: #"[{"name": "w", "shape": [1]}, {"name": "w", "shape": [2]}]"#)
        }
    }

    @Test("values whose length does not match the shape are refused")
    func valuesLengthMismatch() {
        expectInvalid(field: "params[0].values", mentioning: ["3 values", "[2, 2]", "4"]) {
            try Self.create(params: #"[{"name": "w", "shape": [2, 2], "values": [1, 2, 3]}]"#)
        }
    }

    @Test("non-finite initial values and bad shapes are refused")
    func badValuesAndShapes() {
        expectInvalid(field: "params[0].values[1]", mentioning: ["nan"]) {
            try Self.create(params: #"[{"name": "w", "shape": [2], "values": [1, "nan"]}]"#)
        }
        expectInvalid(field: "params[0].shape[1]", mentioning: ["-3"]) {
            try Self.create(params: #"[{"name": "w", "shape": [2, -3]}]"#)
        }
        expectInvalid(field: "params[0].shape", mentioning: ["required"]) { try Self.create(params: #"[{"name": "w"}]"#) }
        expectInvalid(field: "params", mentioning: ["required"]) { _ = try Fixture.config(#"{"optimizer": {"type": "sgd"}}"#) }
    }

    @Test("a tensor in an undeclared group is refused, naming the declared ones")
    func unknownGroup() {
        expectInvalid(field: "params[0].group", mentioning: [#""no_decay""#, "default"]) {
            try Self.create(params: #"[{"name": "w", "shape": [1], "group": "no_decay"}]"#)
        }
        expectInvalid(field: "groups[1].name", mentioning: ["duplicate"]) {
            try Self.create(extra: #", "groups": [{"name": "a"}, {"name": "a"}]"#)
        }
    }

    @Test("nesterov needs momentum > 0 and no dampening")
    func nesterovWithoutMomentum() {
        expectInvalid(field: "optimizer.nesterov", mentioning: ["momentum"]) {
            try Self.create(optimizer: #""type": "sgd", "nesterov": true, "momentum": 0"#)
        }
        expectInvalid(field: "optimizer.nesterov", mentioning: ["dampening"]) {
            try Self.create(optimizer: #""type": "sgd", "nesterov": true, "momentum": 0.9, "dampening": 0.1"#)
        }
    }

    @Test("range checks on the other hyperparameters name the field", arguments: [
        (#""type": "sgd", "momentum": -0.5"#, "optimizer.momentum"),
        (#""type": "sgd", "dampening": 1.5"#, "optimizer.dampening"),
        (#""type": "rmsprop", "alpha": 2"#, "optimizer.alpha"),
        (#""type": "adagrad", "lr_decay": -1"#, "optimizer.lr_decay"),
        (#""type": "adagrad", "initial_accumulator_value": -1"#, "optimizer.initial_accumulator_value"),
        (#""type": "adamw", "weight_decay": -0.1"#, "optimizer.weight_decay"),
        (#""type": "adamw", "amsgrad": "yes""#, "optimizer.amsgrad"),
        (#""type": "adamw", "lr": "inf""#, "optimizer.lr"),
    ])
    func rangeChecks(optimizer: String, field: String) {
        expectInvalid(field: field) { try Self.create(optimizer: optimizer) }
    }

    @Test("accumulation, clip, nonfinite and history are checked too")
    func otherSections() {
        expectInvalid(field: "accumulation.micro_batches", mentioning: ["0"]) {
            try Self.create(extra: #", "accumulation": {"micro_batches": 0}"#)
        }
        expectInvalid(field: "clip.max_norm", mentioning: ["-1"]) { try Self.create(extra: #", "clip": {"max_norm": -1}"#) }
        expectInvalid(field: "clip.norm_type", mentioning: ["L2"]) { try Self.create(extra: #", "clip": {"max_norm": 1, "norm_type": 1}"#) }
        expectInvalid(field: "nonfinite", mentioning: ["skip", "error", "ignore"]) { try Self.create(extra: #", "nonfinite": "ignore""#) }
        expectInvalid(field: "history.capacity", mentioning: ["0"]) { try Self.create(extra: #", "history": {"capacity": 0}"#) }
    }

    /// Names end up as safetensors keys, JSON keys and `?names=` list items: one that cannot
    /// round-trip through all of them is refused at create, not when a checkpoint fails to load.
    @Test(arguments: [("a\u{0}b", "U+0000"), ("__metadata__", "reserved"), ("a,b", "','"), ("tab\there", "U+0009"),
                      (String(repeating: "x", count: 257), "257 bytes"), ("", "required")])
    func namesThatCannotBeStoredAreRefused(name: String, mentions: String) {
        let escaped = name.unicodeScalars.map { $0.value < 0x20 ? String(format: "\\u%04x", $0.value) : String($0) }.joined()
        expectInvalid(field: "params[0].name", mentioning: [mentions]) {
            try Self.create(params: #"[{"name": "\#(escaped)", "shape": [2]}]"#)
        }
        expectInvalid(field: "groups[0].name", mentioning: [mentions]) {
            try Self.create(extra: #", "groups": [{"name": "\#(escaped)"}]"#)
        }
    }

    @Test func namesWithDotsSlashesAndUnicodeAreFine() throws {
        let (c, _) = try Fixture.config(#"{"optimizer": {"type": "adamw"}, "params": [{"name": "model.layers.0/attn.q_proj.weight", "shape": [2]}, {"name": "über", "shape": [1]}]}"#)
        #expect(c.layout.tensors.map(\.name) == ["model.layers.0/attn.q_proj.weight", "über"])
    }
}
