import StepJSON
import StepKernels
import Testing
@testable import StepCore

/// Parameter downloads stream from the live buffer and never mix two steps.
@Suite struct ParamsReaderTests {
    static func session() throws -> Session {
        let body: JSONValue = ["optimizer": ["type": "sgd", "lr": 0.5],
                               "params": [["name": "a", "shape": [3], "values": [1, 2, 3]], ["name": "b", "shape": [2], "values": [4, 5]]]]
        let (config, inits) = try SessionConfig.parse(body)
        return Session(id: "r", config: config, inits: inits, parallel: .serial)
    }

    static func readAll(_ r: ParamsReader, block: Int) throws -> [Float] {
        var bytes = [UInt8](repeating: 0, count: r.byteCount)
        var offset = 0
        while offset < r.byteCount {
            let n = try bytes.withUnsafeMutableBytes { raw in
                try r.read(at: offset, into: UnsafeMutableRawBufferPointer(rebasing: raw[offset..<min(offset + block, r.byteCount)]))
            }
            #expect(n > 0)
            offset += n
        }
        return bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    @Test func blocksOfAnySizeReassembleTheTensorsInDeclaredOrder() throws {
        let s = try Self.session()
        for block in [1, 3, 4, 7, 20, 64] {
            #expect(try Self.readAll(s.paramsReader(), block: block) == [1, 2, 3, 4, 5])
        }
        #expect(try Self.readAll(s.paramsReader(names: ["b"]), block: 5) == [4, 5])
    }

    @Test func aStepDuringADownloadStopsItInsteadOfMixingSteps() throws {
        let s = try Self.session()
        let reader = try s.paramsReader()
        #expect(reader.step == 0)
        var first = [UInt8](repeating: 0, count: 8)
        _ = try first.withUnsafeMutableBytes { try reader.read(at: 0, into: $0) }
        _ = try s.step(grads: ["a": [1, 1, 1], "b": [1, 1]])
        var rest = [UInt8](repeating: 0, count: 12)
        #expect(throws: SessionError.self) { _ = try rest.withUnsafeMutableBytes { try reader.read(at: 8, into: $0) } }
        #expect(try Self.readAll(s.paramsReader(), block: 8) == [0.5, 1.5, 2.5, 3.5, 4.5])
    }
}
