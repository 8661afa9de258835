import Foundation
import StepJSON
import StepKernels
import Testing
@testable import StepCore

/// Groups that run an optimizer of their own (`"type"`), and the tensor-level optimizers
/// (Adafactor, LAMB, Muon) inside sessions.
@Suite struct TypedGroupTests {
    /// AdamW on `b` and `emb`, Muon on the matrices `w1` (more rows than columns) and `w2`.
    static func hybrid(groups: String = #"[{"name": "matrices", "type": "muon", "lr": 0.02}]"#, w1Shape: String = "[6, 4]") -> String {
        """
        {"optimizer": {"type": "adamw", "lr": 0.003, "weight_decay": 0.01},
         "clip": {"max_norm": 1.0},
         "groups": \(groups),
         "params": [{"name": "w1", "shape": \(w1Shape), "group": "matrices", "init": {"type": "normal", "seed": 1}},
                    {"name": "b", "shape": [5], "init": {"type": "normal", "seed": 2}},
                    {"name": "w2", "shape": [4, 9], "group": "matrices", "init": {"type": "normal", "seed": 3}},
                    {"name": "emb", "shape": [3, 4], "init": {"type": "normal", "seed": 4}}]}
        """
    }

    static func grads(_ layout: TensorLayout, step k: Int) -> [String: [Double]] {
        Dictionary(uniqueKeysWithValues: layout.tensors.map { t in
            (t.name, (0..<t.count).map { i in Double(Float(sin(Double(i * 7 + k * 13 + t.count)) * 0.5)) })
        })
    }

    @Test("a typed group runs its optimizer with that optimizer's defaults, not the session's, and echoes every field")
    func typedGroupTakesItsOwnDefaults() throws {
        let (config, _) = try Fixture.config(Self.hybrid())
        let group = config.groups[1]
        #expect(group.kind.type == "muon")
        let echo = try #require(config.json["groups"]?[0])
        #expect(echo["type"] == .string("muon"))
        #expect(echo["lr"] == .number(0.02))
        #expect(echo["weight_decay"] == .number(0.1), "Muon's default, not the session's AdamW 0.01")
        #expect(echo["ns_steps"] == .number(5))
        #expect(echo["betas"] == nil)
        // The echo parses back to the same config (a snapshot stores it).
        let again = try SessionConfig.parse(config.json.replacing("params", with: try Fixture.json(Self.hybrid())["params"]!)).0
        #expect(again.json == config.json)
    }

    @Test("a Muon group refuses a tensor that is not 2-D, naming it")
    func muonRefusesAVector() throws {
        let body = Self.hybrid().replacingOccurrences(of: #""shape": [5], "init""#, with: #""shape": [5], "group": "matrices", "init""#)
        do {
            _ = try Fixture.config(body)
            Issue.record("a 1-D tensor in a Muon group was accepted")
        } catch let error as SessionError {
            guard case .invalid(let field, let detail) = error else { Issue.record("\(error)"); return }
            #expect(field == "params[1]")
            #expect(detail.contains("\"b\"") && detail.contains("2-D") && detail.contains("[5]"), "\(detail)")
        }
    }

    @Test("optimizer state is kept only by the tensors whose optimizer declares it, in its own shape")
    func stateLivesWithItsTensors() throws {
        let (config, _) = try Fixture.config(Self.hybrid())
        #expect(config.stateNames == ["exp_avg", "exp_avg_sq", "momentum_buffer"])
        let momentum = try #require(config.stateLayout.role("momentum_buffer"))
        #expect(momentum.byteCount == (6 * 4 + 4 * 9) * 4)
        #expect(momentum.pieces.map { $0?.byteOffset } == [0, nil, 24 * 4, nil])
        let expAvg = try #require(config.stateLayout.role("exp_avg"))
        #expect(expAvg.pieces.map { $0?.count } == [nil, 5, nil, 12])
        #expect(config.residentBytes == config.layout.count * 4 * 2 + momentum.byteCount + 2 * expAvg.byteCount)

        let (factored, _) = try Fixture.config("""
            {"optimizer": {"type": "adafactor"}, "params": [{"name": "w", "shape": [2, 3, 5]}, {"name": "b", "shape": [5]}]}
            """)
        #expect(factored.stateLayout.role("row_var")?.pieces.map { $0?.shape } == [[2, 3, 1], nil])
        #expect(factored.stateLayout.role("col_var")?.pieces.map { $0?.shape } == [[2, 1, 5], nil])
        #expect(factored.stateLayout.role("variance")?.pieces.map { $0?.shape } == [nil, [5]])
    }

    @Test("a PATCH may change a typed group's fields but not its type")
    func patchKeepsTheGroupsType() throws {
        let s = try Fixture.session(Self.hybrid())
        _ = try s.step(grads: Self.grads(s.layout, step: 0))
        #expect(throws: SessionError.self) {
            _ = try s.patch(try Fixture.json(#"{"groups": [{"name": "matrices", "type": "adamw"}]}"#))
        }
        do {
            _ = try s.patch(try Fixture.json(#"{"groups": [{"name": "matrices", "lr": 0.01}]}"#))
            Issue.record("a group without its type was read as the session's optimizer")
        } catch let error as SessionError {
            guard case .invalid(let field, _) = error else { Issue.record("\(error)"); return }
            #expect(field == "groups[0].type")
        }
        let next = try s.patch(try Fixture.json(#"{"groups": [{"name": "matrices", "type": "muon", "lr": 0.01}]}"#))
        #expect(next.groups[1].hyper.lr == 0.01)
        _ = try s.step(grads: Self.grads(s.layout, step: 1))
    }

    @Test("tensor-level updates give the same bits on 1 and 3 threads, across the pieces a tensor is split into",
          arguments: [
            #"{"type": "adafactor", "weight_decay": 0.01}"#, #"{"type": "lamb", "weight_decay": 0.01}"#,
            #"{"type": "muon", "weight_decay": 0.01}"#,
          ])
    func tensorRulesAreThreadInvariant(optimizer: String) throws {
        // 300 x 700 = 210000 elements: four pieces of the 65536-element split (Adafactor: rows).
        let body = """
            {"optimizer": \(optimizer), "clip": {"max_norm": 1.0},
             "params": [{"name": "w", "shape": [300, 700], "init": {"type": "normal", "seed": 7}},
                        {"name": "v", "shape": [2, 3], "init": {"type": "normal", "seed": 8}}]}
            """
        let one = try Fixture.session(body, threads: 1), three = try Fixture.session(body, threads: 3)
        for k in 0..<3 {
            let g = Self.grads(one.layout, step: k)
            let a = try one.step(grads: g), b = try three.step(grads: g)
            #expect(a.record?.updateNorm == b.record?.updateNorm)
        }
        let x = try one.paramsByName(), y = try three.paramsByName()
        #expect(x["w"]!.map(\.bitPattern) == y["w"]!.map(\.bitPattern))
        #expect(x["v"]!.map(\.bitPattern) == y["v"]!.map(\.bitPattern))
        #expect(x["w"] != (try Fixture.session(body).paramsByName())["w"], "nothing moved")
    }

    @Test("a view of one group's optimizer shows the other groups' parameters as they are")
    func viewsCoverOnlyTheirOwnGroups() throws {
        let s = try Fixture.session("""
            {"optimizer": {"type": "asgd", "lr": 0.01, "t0": 0},
             "groups": [{"name": "m", "type": "muon"}],
             "params": [{"name": "w", "shape": [2, 2], "group": "m", "values": [1, 2, 3, 4]},
                        {"name": "b", "shape": [2], "values": [1, 2]}]}
            """)
        for _ in 0..<3 { _ = try s.step(grads: ["w": [0.1, 0.2, 0.3, 0.4], "b": [0.5, 0.5]]) }
        let plain = try s.readParams(), average = try s.readParams(view: "average")
        #expect(average.tensors[0].1 == plain.tensors[0].1)
        // b's average is the one an ASGD session of b alone keeps: the hybrid's ax buffer holds
        // only b's piece, so reading it at b's parameter offset would read past its end.
        let alone = try Fixture.session("""
            {"optimizer": {"type": "asgd", "lr": 0.01, "t0": 0},
             "params": [{"name": "b", "shape": [2], "values": [1, 2]}]}
            """)
        for _ in 0..<3 { _ = try alone.step(grads: ["b": [0.5, 0.5]]) }
        let expected = try alone.readParams(view: "average").tensors[0].1
        #expect(average.tensors[1].1.map(\.bitPattern) == expected.map(\.bitPattern))
        #expect(average.tensors[1].1 != plain.tensors[1].1)
    }
}

private extension JSONValue {
    subscript(index: Int) -> JSONValue? {
        guard case .array(let a) = self, index < a.count else { return nil }
        return a[index]
    }

    func replacing(_ key: String, with value: JSONValue) -> JSONValue {
        guard case .object(var o) = self else { return self }
        o[key] = value
        return .object(o)
    }
}
