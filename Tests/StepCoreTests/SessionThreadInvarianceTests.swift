import StepJSON
import StepKernels
import Testing
@testable import StepCore

/// A whole session step (norm, clip, per-group update and its statistics) gives the same bits
/// on any number of threads.
@Suite struct SessionThreadInvarianceTests {
    static let body = #"""
    {"optimizer": {"type": "adamw", "lr": 0.001, "weight_decay": 0.1},
     "clip": {"max_norm": 100},
     "groups": [{"name": "nd", "weight_decay": 0}],
     "params": [{"name": "big", "shape": [1000, 1000], "init": {"type": "normal", "std": 0.02, "seed": 3}},
                {"name": "bias", "shape": [3], "group": "nd", "init": {"type": "normal", "seed": 4}}]}
    """#

    @Test("1_000_003 parameters: params, state and history records identical on 1, 2 and 3 threads")
    func identicalOnAnyThreadCount() throws {
        let n = 1_000_003
        var fingerprints: [SessionFingerprint] = []
        var records: [[StepRecord]] = []
        for threads in [1, 2, 3] {
            let s = try Fixture.session(Self.body, threads: threads)
            #expect(s.parameterCount == n)
            for k in 0..<2 {
                let bytes = Self.gradientBytes(count: n, step: k)
                let u = try s.beginUpload(dtype: .f32)
                try bytes.withUnsafeBytes { try u.write($0) }
                _ = try s.submit(u)
            }
            fingerprints.append(SessionFingerprint(s))
            records.append(s.historyRecords().map { var r = $0; r.time = 0; return r })
        }
        #expect(fingerprints[0].step == 2)
        #expect(fingerprints[1] == fingerprints[0])
        #expect(fingerprints[2] == fingerprints[0])
        #expect(records[1] == records[0] && records[2] == records[0])
        #expect(records[0].allSatisfy { $0.clipped }, "the clip path was not exercised")
    }

    static func gradientBytes(count n: Int, step k: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: n * 4)
        out.withUnsafeMutableBytes { raw in
            let f = raw.bindMemory(to: Float.self)
            var x = UInt32(truncatingIfNeeded: 12345 &+ k &* 777)
            for i in 0..<n {
                x = x &* 1_664_525 &+ 1_013_904_223
                f[i] = (Float(x >> 8) * 0x1p-24 - 0.5) * (i % 7 == 0 ? 10 : 1)
            }
        }
        return out
    }
}
