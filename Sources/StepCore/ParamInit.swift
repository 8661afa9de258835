#if canImport(Glibc)
import Glibc
#endif
import StepJSON
import StepKernels

/// How a parameter's first values are made when the create request carries none: `"zeros"`, or
/// `{"type": "normal", "mean": 0, "std": 0.02, "seed": 1}` (seeded, so a session is reproducible).
public enum ParamInit: Sendable, Equatable {
    case values([Float])
    case zeros
    case normal(mean: Double, std: Double, seed: UInt64)

    static func parse(_ value: JSONValue, path: String) throws(JSONFieldError) -> ParamInit {
        if case .string("zeros") = value { return .zeros }
        if case .string("normal") = value { return .normal(mean: 0, std: 1, seed: 0) }
        var r = try JSONObjectReader(value, path: path)
        let type = try r.string("type")
        switch type {
        case "zeros":
            try r.finish()
            return .zeros
        case "normal":
            let mean = try r.number("mean", default: 0, "a finite number") { _ in true }
            let std = try r.number("std", default: 1, "a number >= 0") { $0 >= 0 }
            let seed = try r.integer("seed", default: 0, "an integer >= 0") { $0 >= 0 }
            try r.finish()
            return .normal(mean: mean, std: std, seed: UInt64(seed))
        default:
            throw JSONFieldError(field: r.field("type"), "expected \"zeros\" or \"normal\", got \(type.map { "\"\($0)\"" } ?? "nothing")")
        }
    }

    func fill(_ p: UnsafeMutableBufferPointer<Float>) {
        switch self {
        case .values(let v): _ = p.update(fromContentsOf: v)
        case .zeros: p.update(repeating: 0)
        case .normal(let mean, let std, let seed):
            var rng = SplitMix64(seed: seed)
            var i = 0
            while i < p.count {
                // Box-Muller: two independent normals per pair of uniforms.
                let u1 = max(rng.unit(), 1e-300), u2 = rng.unit()
                let r = (-2 * log(u1)).squareRoot()
                p[i] = Float(mean + std * r * cos(2 * Double.pi * u2))
                if i + 1 < p.count { p[i + 1] = Float(mean + std * r * sin(2 * Double.pi * u2)) }
                i += 2
            }
        }
    }
}
