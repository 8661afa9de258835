import Foundation
import StepKernels
import Testing

/// The tensor-level rules (Muon, Adafactor, LAMB): Newton-Schulz on BLAS against a float64
/// reference of torch's algorithm, and the portable and AVX2 copies of their passes agreeing.
@Suite struct TensorRuleTests {
    /// torch.optim.Muon's `_zeropower_via_newtonschulz` in float64, on a row-major matrix.
    static func newtonSchulz(_ g: [Double], rows: Int, cols: Int, steps: Int, k: (Double, Double, Double) = (3.4445, -4.775, 2.0315)) -> [Double] {
        let t = rows > cols
        let m = min(rows, cols), n = max(rows, cols)
        var x = [Double](repeating: 0, count: m * n)
        for i in 0..<rows { for j in 0..<cols { x[t ? j * rows + i : i * cols + j] = g[i * cols + j] } }
        let norm = max(x.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-7)
        x = x.map { $0 / norm }
        for _ in 0..<steps {
            var a = [Double](repeating: 0, count: m * m)
            for i in 0..<m { for j in 0..<m { for l in 0..<n { a[i * m + j] += x[i * n + l] * x[j * n + l] } } }
            var b = a.map { k.1 * $0 }
            for i in 0..<m { for j in 0..<m { for l in 0..<m { b[i * m + j] += k.2 * a[i * m + l] * a[l * m + j] } } }
            var y = x.map { k.0 * $0 }
            for i in 0..<m { for j in 0..<n { for l in 0..<m { y[i * n + j] += b[i * m + l] * x[l * n + j] } } }
            x = y
        }
        var out = [Double](repeating: 0, count: rows * cols)
        for i in 0..<rows { for j in 0..<cols { out[i * cols + j] = x[t ? j * rows + i : i * cols + j] } }
        return out
    }

    @Test("one Muon step moves the parameters by -lr·adjust·NS(g), in either orientation", arguments: [(5, 3), (3, 5), (4, 4)])
    func muonStepIsNewtonSchulzOfTheGradient(shape: (Int, Int)) {
        let (rows, cols) = shape
        let g = (0..<(rows * cols)).map { Float(sin(Double($0) * 1.7 + 0.3)) }
        var p = [Float](repeating: 0, count: rows * cols), buffer = p
        let rule = TensorRule.muon(Muon(lr: 0.1, momentum: 0, nesterov: false, weightDecay: 0, coefficients: (3.4445, -4.775, 2.0315),
                                        eps: 1e-7, steps: 5, adjustment: .original))
        g.withUnsafeBufferPointer { gp in
            p.withUnsafeMutableBufferPointer { pp in
                buffer.withUnsafeMutableBufferPointer { bp in
                    let t = TensorBuffers(params: pp.baseAddress!, grads: gp.baseAddress!, shape: [rows, cols], state: [bp.baseAddress!])
                    _ = rule.update(t, gradScale: 1, parallel: .serial)
                }
            }
        }
        let want = Self.newtonSchulz(g.map(Double.init), rows: rows, cols: cols, steps: 5)
        let lr = 0.1 * max(1, Double(rows) / Double(cols)).squareRoot()
        for (got, o) in zip(p, want) { #expect(abs(Double(got) + lr * o) < 1e-5, "\(p) vs \(want.map { -lr * $0 })") }
        #expect(buffer == g, "momentum 0 keeps the gradient as the buffer")
    }

    @Test("every compiled copy of every tensor rule gives the same bits", arguments: ["adafactor", "lamb", "muon"])
    func copiesAgree(name: String) throws {
        let shape = [3, 130, 70]  // Adafactor: three 130x70 matrices; Muon takes the first 130x70
        let rule: TensorRule
        let stateCounts: [Int]
        switch name {
        case "adafactor":
            rule = .adafactor(Adafactor(lr: 0.01, beta2Decay: -0.8, eps1: nil, eps2: 1e-3, d: 1, weightDecay: 0.01, step: 2))
            stateCounts = [3 * 130, 3 * 70]
        case "lamb":
            rule = .lamb(Lamb(lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-6, epsRoot: 0, weightDecay: 0.01, step: 2))
            stateCounts = [3 * 130 * 70, 3 * 130 * 70]
        default:
            rule = .muon(Muon(lr: 0.02, momentum: 0.95, nesterov: true, weightDecay: 0.01, coefficients: (3.4445, -4.775, 2.0315),
                              eps: 1e-7, steps: 5, adjustment: .original))
            stateCounts = [130 * 70]
        }
        let tensorShape = name == "muon" ? [130, 70] : shape
        let count = tensorShape.reduce(1, *)
        let g = AlignedBuffer(count: count, filledWith: 0)
        for i in 0..<count { g.pointer[i] = Float(sin(Double(i) * 0.37)) * 0.1 }
        func run(_ isa: InstructionSet) -> ([Float], [[Float]], UpdateStats) {
            let p = AlignedBuffer(count: count, filledWith: 0)
            for i in 0..<count { p.pointer[i] = Float(cos(Double(i) * 0.11)) }
            let state = stateCounts.map { AlignedBuffer(count: $0, filledWith: 0.25) }
            let t = TensorBuffers(params: p.pointer, grads: g.pointer, shape: tensorShape, state: state.map { $0.pointer })
            let stats = rule.update(t, gradScale: 0.5, parallel: .serial, on: isa)
            return (Array(UnsafeBufferPointer(start: p.pointer, count: count)),
                    state.map { Array(UnsafeBufferPointer(start: $0.pointer, count: $0.count)) }, stats)
        }
        let a = run(.portable)
        for isa in InstructionSet.runnable.dropFirst() {
            let b = run(isa)
            #expect(a.0.map(\.bitPattern) == b.0.map(\.bitPattern), "\(isa): params")
            #expect(a.1.map { $0.map(\.bitPattern) } == b.1.map { $0.map(\.bitPattern) }, "\(isa): state")
            #expect(a.2 == b.2, "\(isa): statistics")
        }
    }
}
