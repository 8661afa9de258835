import StepCore
import StepKernels

/// Replays conformance cases straight through StepCore.
public struct SessionDriver: ConformanceDriver {
    var session: Session?
    let parallel: Parallel

    public init(threads: Int = 1) { parallel = Parallel(threads: threads, minimumPerThread: 16) }

    public var layer: String { "library" }

    public mutating func create(session c: ConformanceCase) throws {
        let (config, inits) = try SessionConfig.parse(c.session)
        session = Session(id: c.name, config: config, inits: inits, parallel: parallel)
    }

    public mutating func step(grads: [String: [Double]]) throws -> ConformanceStepReport {
        let o = try session!.step(grads: grads)
        return ConformanceStepReport(step: o.step, lr: o.record?.lr ?? 0, gradNorm: o.record?.gradNorm, skipped: o.record?.skipped ?? false)
    }

    public mutating func params() throws -> [String: [Float]] {
        Dictionary(uniqueKeysWithValues: try session!.readParams().tensors.map { ($0.0.name, $0.1) })
    }

    public mutating func quantizedState() throws -> [String: [String: QuantizedState]?] {
        let image = session!.capture()
        var out: [String: [String: QuantizedState]?] = [:]
        let layout = image.state.layout
        for (i, t) in image.config.layout.tensors.enumerated() {
            var roles: [String: QuantizedState] = [:]
            for (name, buffer) in image.state.roles {
                guard let role = layout.role(name), let piece = role.pieces[i], piece.dtype == .q8 else { continue }
                let codes = role.bytes(buffer, tensor: i)!
                let absmax = role.absmax(buffer, tensor: i)!
                roles[name] = QuantizedState(codes: (0..<piece.count).map { codes.load(fromByteOffset: $0, as: UInt8.self) },
                                             absmax: Array(UnsafeBufferPointer(start: absmax, count: piece.blocks)))
            }
            out[t.name] = roles.isEmpty ? .some(nil) : roles
        }
        return out
    }

    public mutating func params(view: String) throws -> [String: [Float]] {
        Dictionary(uniqueKeysWithValues: try session!.readParams(view: view).tensors.map { ($0.0.name, $0.1) })
    }
}
