import Foundation
import StepCore
import StepJSON
import StepKernels
import Testing
@testable import StepStore
import StepTensors

/// Checkpoints of sessions that keep their state in bfloat16 or q8: the state is stored as it
/// is kept (BF16 tensors; bitsandbytes' state<k>/absmax<k>/qmap<k> for q8), and a session
/// restored from one continues bit for bit.
@Suite struct LowPrecisionCheckpointTests {
    /// A 5000-element matrix (q8 when asked) and a 300-element bias (always float32 under q8),
    /// the bias in a group that keeps bf16.
    static func session(_ dtype: String) throws -> Session {
        let w = (0..<5000).map { Double(($0 * 37) % 101) / 50 - 1 }
        let body = """
            {"optimizer": {"type": "adamw", "lr": 0.01, "state_dtype": "\(dtype)"},
             "groups": [{"name": "bias", "state_dtype": "bf16"}],
             "params": [{"name": "w", "shape": [50, 100], "values": \(w)}, {"name": "b", "shape": [300], "group": "bias", "init": "zeros"}]}
            """
        let (config, inits) = try SessionConfig.parse(try JSONParser.parse(body))
        return Session(id: "lp", config: config, inits: inits, parallel: .serial)
    }

    static func grads(_ k: Int) -> [String: [Double]] {
        ["w": (0..<5000).map { sin(Double($0 * (k + 1))) }, "b": (0..<300).map { cos(Double($0 + k)) * 0.1 }]
    }

    @Test("a q8 checkpoint holds codes, absmax and map under bitsandbytes' names", arguments: ["q8"])
    func q8CheckpointNames(_ dtype: String) throws {
        let s = try Self.session(dtype)
        _ = try s.step(grads: Self.grads(0))
        let image = s.capture()
        let file = try SafetensorsFile(bytes: try withExtendedLifetime(image) { try SessionCheckpoint.writer(image).makeBytes() })
        // k counts every state the tensor's optimizer declares, kept or not: amsgrad's is state3 either way.
        #expect(file.metadata["state_names"] == #"{"adamw":["exp_avg","exp_avg_sq","max_exp_avg_sq"]}"#)
        #expect(file.tensor(named: "state.w.state3") == nil)
        #expect(file.tensor(named: "state.w.state1")?.dtype == .u8 && file.tensor(named: "state.w.state1")?.shape == [50, 100])
        #expect(file.tensor(named: "state.w.absmax2")?.shape == [20])
        #expect(try file.floats("state.w.qmap1") == (0..<256).map { QuantizationMap.signed.values[$0] })
        #expect(try file.floats("state.w.qmap2") == (0..<256).map { QuantizationMap.unsigned.values[$0] })
        #expect(file.tensor(named: "state.b.exp_avg")?.dtype == .bf16)
        #expect(file.tensor(named: "state.w.exp_avg") == nil)
    }

    @Test("restored from its checkpoint, a session continues bit for bit", arguments: ["f32", "bf16", "q8"])
    func restoredSessionContinuesBitForBit(_ dtype: String) throws {
        let s = try Self.session(dtype)
        for k in 0..<3 { _ = try s.step(grads: Self.grads(k)) }
        let image = s.capture()
        let bytes = try withExtendedLifetime(image) { try SessionCheckpoint.writer(image).makeBytes() }
        let restored = try Session(restoring: try SessionCheckpoint.image(from: try SafetensorsFile(bytes: bytes)), parallel: .serial)
        for k in 3..<6 {
            _ = try s.step(grads: Self.grads(k))
            _ = try restored.step(grads: Self.grads(k))
        }
        let a = try s.readParams().tensors, b = try restored.readParams().tensors
        for (x, y) in zip(a, b) { #expect(x.1.map(\.bitPattern) == y.1.map(\.bitPattern), "\(x.0.name)") }
    }

    @Test("a q8 checkpoint whose map is not bitsandbytes' is refused, naming the tensor")
    func foreignMapIsRefused() throws {
        let s = try Self.session("q8")
        let image = s.capture()
        let bytes = try withExtendedLifetime(image) { try SessionCheckpoint.writer(image).makeBytes() }
        let file = try SafetensorsFile(bytes: bytes)
        var tensors: [(String, SafetensorsDType, [Int], [UInt8])] = []
        for t in file.tensors {
            var raw = [UInt8](repeating: 0, count: t.byteCount)
            try raw.withUnsafeMutableBytes { try file.copyBytes(of: t, into: $0) }
            if t.name == "state.w.qmap2" { raw[4] ^= 1 }
            tensors.append((t.name, t.dtype, t.shape, raw))
        }
        var meta = file.metadata
        meta[SafetensorsChecksum.metadataKey] = nil
        let edited = try tensors.withRawBuffers { try SafetensorsWriter(tensors: $0, metadata: meta, checksum: false).makeBytes() }
        #expect(throws: SessionError.self) { _ = try SessionCheckpoint.image(from: try SafetensorsFile(bytes: edited)) }
        do { _ = try SessionCheckpoint.image(from: try SafetensorsFile(bytes: edited)) } catch {
            #expect("\(error)".contains("state.w.qmap2"))
        }
    }
}

extension Array where Element == (String, SafetensorsDType, [Int], [UInt8]) {
    /// Writer tensors borrowing these byte arrays for the duration of `body`.
    func withRawBuffers<R>(_ body: ([SafetensorsWriter.Tensor]) throws -> R) rethrows -> R {
        let copies = map { t in (t, UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(1, t.3.count), alignment: 8)) }
        defer { copies.forEach { $0.1.deallocate() } }
        for (t, b) in copies { t.3.withUnsafeBytes { b.copyMemory(from: $0) } }
        return try body(copies.map { t, b in
            SafetensorsWriter.Tensor(name: t.0, dtype: t.1, shape: t.2, bytes: UnsafeRawBufferPointer(rebasing: b[0..<t.3.count]))
        })
    }
}
