import Foundation
import StepJSON
import StepKernels
import Testing
@testable import StepCore

/// `state_dtype` on a session and its groups: validated like every field, changeable by PATCH
/// (the state converted in place), and what it costs in memory.
@Suite struct StateDTypeSessionTests {
    static func big(_ dtype: String, groups: String = "[]") -> String {
        let w = (0..<5000).map { Double(($0 * 37) % 101) / 50 - 1 }
        return """
            {"optimizer": {"type": "adamw", "lr": 0.01, "state_dtype": "\(dtype)"}, "groups": \(groups),
             "params": [{"name": "w", "shape": [5000], "values": \(w)}, {"name": "b", "shape": [10], "init": "zeros"}]}
            """
    }

    static func grads(_ k: Int) -> [String: [Double]] {
        ["w": (0..<5000).map { sin(Double($0 * (k + 1))) }, "b": (0..<10).map { cos(Double($0 + k)) * 0.1 }]
    }

    @Test("an unknown state_dtype, or one the optimizer cannot keep, is refused naming the field")
    func badStateDTypeIsRefused() {
        expectInvalid(field: "optimizer.state_dtype", mentioning: ["f16", "f32", "bf16", "q8"]) {
            _ = try Fixture.session(Fixture.adamw(optimizer: #"{"type": "adamw", "state_dtype": "f16"}"#))
        }
        expectInvalid(field: "optimizer.state_dtype", mentioning: ["asgd", "f32", "bf16"]) {
            _ = try Fixture.session(Fixture.adamw(optimizer: #"{"type": "asgd", "state_dtype": "q8"}"#))
        }
        expectInvalid(field: "groups[0].state_dtype", mentioning: ["int4"]) {
            _ = try Fixture.session(Fixture.adamw(groups: #"[{"name": "g", "state_dtype": "int4"}]"#))
        }
    }

    @Test("state_dtype is echoed in the config, and a group's own overrides the optimizer's")
    func stateDTypeIsEchoedAndInherited() throws {
        let s = try Fixture.session(Self.big("q8", groups: #"[{"name": "g", "state_dtype": "bf16"}]"#))
        #expect(s.config.optimizer.json["state_dtype"] == .string("q8"))
        #expect(s.config.groups.map(\.stateDType) == [.q8, .bf16])
        // The 10-element bias stays float32 under q8; the 5000-element vector is q8.
        #expect(s.config.stateLayout.role("exp_avg")!.pieces.map { $0?.dtype } == [.q8, .f32])
    }

    @Test("q8 state costs about a quarter of float32's, bf16 half", arguments: [("f32", 4.0), ("bf16", 2.0), ("q8", 1.016)])
    func stateBytesPerParameter(_ dtype: String, _ bytes: Double) throws {
        let w = #"{"name": "w", "shape": [1000000], "init": "zeros"}"#
        let (config, _) = try Fixture.config(#"{"optimizer": {"type": "adamw", "state_dtype": "\#(dtype)"}, "params": [\#(w)]}"#)
        let perParam = Double(config.stateLayout.role("exp_avg")!.byteCount) / 1e6
        #expect(abs(perParam - bytes) < 0.01, "\(dtype): \(perParam) B/param per state tensor")
        #expect(config.residentBytes == 8_000_000 + 2 * config.stateLayout.role("exp_avg")!.byteCount)
    }

    @Test("PATCH state_dtype converts the state in place: f32 to q8 to bf16 keeps the moments to their precision")
    func patchConvertsState() throws {
        let s = try Fixture.session(Self.big("f32"))
        for k in 0..<3 { _ = try s.step(grads: Self.grads(k)) }
        let before = s.capture().state
        let m = before.buffer("exp_avg")!.array
        _ = try s.patch(Fixture.json(#"{"optimizer": {"state_dtype": "q8"}}"#))
        #expect(s.config.stateLayout.role("exp_avg")!.pieces[0]?.dtype == .q8)
        var q = [Float](repeating: 0, count: 5000)
        #expect(s.capture().state.read("exp_avg", tensor: 0, range: 0..<5000, into: &q))
        let worst = zip(m, q).map { abs($0 - $1) }.max()!
        #expect(worst <= 0.02 * m.map(abs).max()!, "q8 moves exp_avg by \(worst)")
        _ = try s.patch(Fixture.json(#"{"optimizer": {"state_dtype": "bf16"}}"#))
        var h = [Float](repeating: 0, count: 5000)
        #expect(s.capture().state.read("exp_avg", tensor: 0, range: 0..<5000, into: &h))
        #expect(h == q.map { Float(bitPattern: UInt32(HalfPrecision.floatToBF16($0)) << 16) })
        // And it keeps stepping.
        let p = try s.paramsByName()["w"]!
        _ = try s.step(grads: Self.grads(3))
        #expect(try s.paramsByName()["w"]! != p)
    }

    @Test("tensor-level optimizers keep float32 state and refuse bf16 and q8 naming the field, as optimizer or as a group's type",
          arguments: ["muon", "adafactor", "lamb"])
    func tensorRulesRefuseLowPrecision(_ type: String) {
        for dtype in ["bf16", "q8"] {
            expectInvalid(field: "optimizer.state_dtype", mentioning: [type, "\"f32\""]) {
                _ = try Fixture.session(Fixture.adamw(optimizer: #"{"type": "\#(type)", "state_dtype": "\#(dtype)"}"#))
            }
            expectInvalid(field: "groups[0].state_dtype", mentioning: [type, "\"f32\""]) {
                _ = try Fixture.session(Fixture.adamw(groups: #"[{"name": "g", "type": "\#(type)", "state_dtype": "\#(dtype)"}]"#))
            }
        }
    }

    /// AdamW on `v` (5000 elements, q8 when the session says so) and Muon on the matrix `w`.
    static func hybrid(_ dtype: String, muon: Bool) -> String {
        let v = (0..<5000).map { Double(($0 * 37) % 101) / 50 - 1 }
        let groups = muon ? #"[{"name": "m", "type": "muon", "lr": 0.02}]"# : #"[{"name": "m"}]"#
        return """
            {"optimizer": {"type": "adamw", "lr": 0.01, "state_dtype": "\(dtype)"}, "groups": \(groups),
             "params": [{"name": "v", "shape": [5000], "values": \(v)},
                        {"name": "w", "shape": [64, 80], "group": "m", "init": {"type": "normal", "seed": 3}}]}
            """
    }

    @Test("a typed group keeps its own state_dtype: q8 AdamW next to a float32 Muon group steps as each does alone")
    func hybridSessionMixesStateDTypes() throws {
        let hybrid = try Fixture.session(Self.hybrid("q8", muon: true), threads: 2)
        #expect(hybrid.config.groups.map(\.stateDType) == [.q8, .f32], "a typed group's state_dtype defaults to f32, not the session's")
        let layout = hybrid.config.stateLayout
        #expect(layout.role("exp_avg")!.pieces.map { $0?.dtype } == [.q8, nil])
        #expect(layout.role("momentum_buffer")!.pieces.map { $0?.dtype } == [nil, .f32])
        let adamwAlone = try Fixture.session(Self.hybrid("q8", muon: false), threads: 2)
        let muonF32 = try Fixture.session(Self.hybrid("f32", muon: true), threads: 2)
        let grads = { (k: Int) in ["v": (0..<5000).map { sin(Double($0 * (k + 1))) }, "w": (0..<5120).map { cos(Double($0 * (k + 3))) * 0.1 }] }
        for k in 0..<3 {
            for s in [hybrid, adamwAlone, muonF32] { _ = try s.step(grads: grads(k)) }
        }
        let h = try hybrid.paramsByName(), a = try adamwAlone.paramsByName(), m = try muonF32.paramsByName()
        #expect(h["v"]!.map(\.bitPattern) == a["v"]!.map(\.bitPattern))
        #expect(h["w"]!.map(\.bitPattern) == m["w"]!.map(\.bitPattern))
        #expect(h["v"]!.map(\.bitPattern) != m["v"]!.map(\.bitPattern), "q8 state moves AdamW off its float32 path")
    }

    @Test("PATCH of state_dtype in a hybrid session converts the AdamW state, leaves Muon's float32, and refuses q8 for the Muon group")
    func hybridPatch() throws {
        let s = try Fixture.session(Self.hybrid("q8", muon: true))
        let grads = ["v": (0..<5000).map { sin(Double($0)) }, "w": (0..<5120).map { cos(Double($0)) * 0.1 }]
        _ = try s.step(grads: grads)
        let momentum = s.capture().state.buffer("momentum_buffer")!.array
        expectInvalid(field: "groups[0].state_dtype", mentioning: ["muon"]) {
            _ = try s.patch(Fixture.json(#"{"groups": [{"name": "m", "type": "muon", "lr": 0.02, "state_dtype": "q8"}]}"#))
        }
        _ = try s.patch(Fixture.json(#"{"optimizer": {"state_dtype": "bf16"}}"#))
        let layout = s.config.stateLayout
        #expect(layout.role("exp_avg")!.pieces.map { $0?.dtype } == [.bf16, nil])
        #expect(layout.role("momentum_buffer")!.pieces.map { $0?.dtype } == [nil, .f32])
        #expect(s.capture().state.buffer("momentum_buffer")!.array == momentum)
        _ = try s.step(grads: grads)
        #expect(s.step == 2)
    }
}
