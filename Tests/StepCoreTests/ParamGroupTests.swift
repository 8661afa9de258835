import Foundation
import StepJSON
import StepKernels
import Testing
@testable import StepCore

/// Group overrides reach exactly the tensors of their group, including across the fixed chunks a
/// step is split into.
@Suite struct ParamGroupTests {
    static func body(weightDecay: Double, tensors: [(String, Int, String?)], groups: String = #"[{"name": "no_decay", "weight_decay": 0}]"#) -> String {
        let params = tensors.map { name, n, group in
            #"{"name": "\#(name)", "shape": [\#(n)], "init": {"type": "normal", "seed": \#(n)}\#(group.map { #", "group": "\#($0)""# } ?? "")}"#
        }
        return #"{"optimizer": {"type": "adamw", "lr": 0.01, "weight_decay": \#(weightDecay)}, "groups": \#(groups), "params": [\#(params.joined(separator: ","))]}"#
    }

    static func grads(_ layout: TensorLayout, step k: Int) -> [String: [Double]] {
        Dictionary(uniqueKeysWithValues: layout.tensors.map { t in
            (t.name, (0..<t.count).map { i in Double(Float(((i * 31 + k * 17 + t.count) % 97)) / 97 - 0.5) })
        })
    }

    @Test("a no_decay group gets weight decay 0, the rest the optimizer's, across chunk boundaries")
    func noDecayGroupGetsNoDecay() throws {
        // a and c straddle the 65536-element chunks a step is split into; b sits between them.
        let tensors: [(String, Int, String?)] = [("a", 70_000, nil), ("b", 13, "no_decay"), ("c", 70_001, nil)]
        let mixed = try Fixture.session(Self.body(weightDecay: 0.1, tensors: tensors), threads: 2)
        let allDecay = try Fixture.session(Self.body(weightDecay: 0.1, tensors: tensors.map { ($0.0, $0.1, nil) }), threads: 2)
        let noDecay = try Fixture.session(Self.body(weightDecay: 0, tensors: tensors.map { ($0.0, $0.1, nil) }), threads: 2)
        for k in 0..<3 {
            let g = Self.grads(mixed.layout, step: k)
            for s in [mixed, allDecay, noDecay] { _ = try s.step(grads: g) }
        }
        let m = try mixed.paramsByName(), d = try allDecay.paramsByName(), z = try noDecay.paramsByName()
        // Without clipping each element's update depends only on its own group's settings, so
        // the tensors must equal the single-group runs bit for bit.
        #expect(m["a"]!.map { $0.bitPattern } == d["a"]!.map { $0.bitPattern })
        #expect(m["c"]!.map { $0.bitPattern } == d["c"]!.map { $0.bitPattern })
        #expect(m["b"]!.map { $0.bitPattern } == z["b"]!.map { $0.bitPattern })
        #expect(m["b"] != d["b"], "decay made no difference, so the comparison proves nothing")
    }

    @Test("a no_decay tensor follows the scalar AdamW reference with weight decay 0")
    func noDecayMatchesScalarReference() throws {
        let s = try Fixture.session(Fixture.adamw(bGroup: "no_decay", groups: #"[{"name": "no_decay", "weight_decay": 0}]"#))
        var b: [Float] = [1, -1, 0.5, -0.5]
        var w: [Float] = [0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8, 0.9]
        var mb = [Float](repeating: 0, count: 4), vb = mb
        var mw = [Float](repeating: 0, count: 9), vw = mw
        for k in 0..<3 {
            let g = Fixture.grads(k)
            _ = try s.step(grads: g)
            for i in 0..<4 { Self.adamw(t: k + 1, wd: 0, p: &b[i], g: Float(g["b"]![i]), m: &mb[i], v: &vb[i]) }
            for i in 0..<9 { Self.adamw(t: k + 1, wd: 0.1, p: &w[i], g: Float(g["w"]![i]), m: &mw[i], v: &vw[i]) }
        }
        let got = try s.paramsByName()
        for (x, y) in zip(got["b"]!, b) { #expect(abs(x - y) <= 1e-6 * abs(y) + 1e-7, "b: \(got["b"]!) vs \(b)") }
        for (x, y) in zip(got["w"]!, w) { #expect(abs(x - y) <= 1e-6 * abs(y) + 1e-7, "w: \(got["w"]!) vs \(w)") }
    }

    /// torch.optim.AdamW for one element, lr 0.01, betas (0.9, 0.999), eps 1e-8.
    static func adamw(t: Int, wd: Double, p: inout Float, g: Float, m: inout Float, v: inout Float) {
        let lr = 0.01
        p = p * Float(1 - lr * wd)
        m = m + Float(1 - 0.9) * (g - m)
        v = v * Float(0.999) + Float(1 - 0.999) * g * g
        let bc1 = 1 - pow(0.9, Double(t)), bc2 = 1 - pow(0.999, Double(t))
        p = p + Float(-(lr / bc1)) * (m / (v.squareRoot() / Float(bc2.squareRoot()) + Float(1e-8)))
    }

    @Test("a group's lr override applies with the schedule, and lr 0 freezes its tensors")
    func groupLROverride() throws {
        let s = try Fixture.session(Fixture.adamw(extra: #", "schedule": {"type": "exponential", "gamma": 0.5}"#,
                                                  bGroup: "frozen", groups: #"[{"name": "frozen", "lr": 0, "weight_decay": 0}]"#))
        let before = try s.paramsByName()
        let o1 = try s.step(grads: Fixture.grads(0))
        let o2 = try s.step(grads: Fixture.grads(1))
        #expect(o1.groupLRs.map(\.lr) == [0.01, 0])
        #expect(o2.groupLRs.map(\.lr) == [0.005, 0])
        let after = try s.paramsByName()
        #expect(after["b"] == before["b"])
        #expect(after["w"] != before["w"])
    }

    @Test("group overrides inherit the rest from the optimizer and are echoed in the config")
    func groupInheritsOptimizerSettings() throws {
        let (c, _) = try Fixture.config(Fixture.adamw(bGroup: "g", groups: #"[{"name": "g", "betas": [0.5, 0.6]}]"#))
        #expect(c.groups.map { $0.name } == ["default", "g"])
        let h = try #require(c.groups[1].hyper as? AdamHyperparameters)
        #expect(h.beta1 == 0.5 && h.beta2 == 0.6)
        #expect(h.lr == 0.01 && h.weightDecay == 0.1)
        #expect(c.layout.tensor(named: "b")?.group == 1)
        #expect(c.json["groups"] == [["name": "g", "betas": [0.5, 0.6]]])
    }
}
