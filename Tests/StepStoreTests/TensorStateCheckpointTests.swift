import Foundation
import StepCore
import StepJSON
import Testing
@testable import StepStore
import StepTensors

/// Checkpoints of sessions whose state is not one buffer per parameter: Adafactor's row and
/// column statistics (in torch's shapes) and a Muon + AdamW session (each tensor carries only
/// its own optimizer's state). A restored session continues with the same bits.
@Suite struct TensorStateCheckpointTests {
    static let adafactor = """
        {"optimizer": {"type": "adafactor", "weight_decay": 0.01},
         "params": [{"name": "w", "shape": [2, 3, 5], "init": {"type": "normal", "seed": 1}},
                    {"name": "b", "shape": [5], "init": {"type": "normal", "seed": 2}}]}
        """
    static let hybrid = """
        {"optimizer": {"type": "adamw", "lr": 0.003},
         "groups": [{"name": "m", "type": "muon", "lr": 0.02}],
         "params": [{"name": "w", "shape": [6, 4], "group": "m", "init": {"type": "normal", "seed": 1}},
                    {"name": "b", "shape": [4], "init": {"type": "normal", "seed": 2}}]}
        """

    /// Adafactor on the matrix, and an AdamW group with q8 state on a vector big enough for it.
    static let adafactorAndQ8 = """
        {"optimizer": {"type": "adafactor"},
         "groups": [{"name": "v8", "type": "adamw", "state_dtype": "q8"}],
         "params": [{"name": "w", "shape": [4, 6], "init": {"type": "normal", "seed": 1}},
                    {"name": "v", "shape": [5000], "group": "v8", "init": {"type": "normal", "seed": 2}}]}
        """

    static func grads(_ s: Session, _ k: Int) -> [String: [Double]] {
        var out: [String: [Double]] = [:]
        for t in s.layout.tensors {
            out[t.name] = (0..<t.count).map { i -> Double in Double(Float(sin(Double(i + 3 * k)))) }
        }
        return out
    }

    @Test("a checkpoint holds each state tensor in its own shape, only for the tensors that keep it, and restores to the same next step",
          arguments: [(adafactor, ["state.w.row_var": [2, 3, 1], "state.w.col_var": [2, 1, 5], "state.b.variance": [5]]),
                      (hybrid, ["state.w.momentum_buffer": [6, 4], "state.b.exp_avg": [4], "state.b.exp_avg_sq": [4]]),
                      (adafactorAndQ8, ["state.w.row_var": [4, 1], "state.w.col_var": [1, 6],
                                        "state.v.state1": [5000], "state.v.absmax1": [20], "state.v.qmap1": [256],
                                        "state.v.state2": [5000], "state.v.absmax2": [20], "state.v.qmap2": [256]])])
    func roundTrip(body: String, state: [String: [Int]]) throws {
        let (config, inits) = try SessionConfig.parse(try JSONParser.parse(body))
        let s = Session(id: "c", config: config, inits: inits, parallel: .serial)
        for k in 0..<2 { _ = try s.step(grads: Self.grads(s, k)) }
        let image = s.capture()
        let bytes = try withExtendedLifetime(image) { try SessionCheckpoint.writer(image).makeBytes() }
        let file = try SafetensorsFile(bytes: bytes)
        let stateTensors = Dictionary(uniqueKeysWithValues: file.tensors.filter { $0.name.hasPrefix("state.") }.map { ($0.name, $0.shape) })
        #expect(stateTensors == state)
        let restored = try Session(restoring: try SessionCheckpoint.image(from: file), parallel: .serial)
        let g = Self.grads(s, 2)
        _ = try s.step(grads: g)
        _ = try restored.step(grads: g)
        let a = try s.readParams().tensors, b = try restored.readParams().tensors
        #expect(a.map { $0.1.map(\.bitPattern) } == b.map { $0.1.map(\.bitPattern) })
    }
}
