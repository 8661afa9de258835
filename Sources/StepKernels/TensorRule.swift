/// An update that needs a whole tensor at once: a per-tensor norm (LAMB's trust ratio), row and
/// column statistics (Adafactor), matrix products (Muon). Each is a few `TensorPass`es, each
/// split over fixed pieces (`GradientNorm.chunk` elements, or as many whole rows) run on the
/// session's threads, with the pieces' sums added in piece order: a tensor's result does not
/// depend on the thread count.
public enum TensorRule: Sendable {
    case lamb(Lamb)
    case adafactor(Adafactor)
    case muon(Muon)

    /// Updates one tensor; the returned statistics are the parameter change's.
    public func update(_ t: TensorBuffers, gradScale: Float, parallel: Parallel, on isa: InstructionSet = .detected) -> UpdateStats {
        guard t.count > 0 else { return UpdateStats() }
        let run = { (pass: TensorPass, count: Int, per: Int) in Self.split(count, per: per, parallel) { pass.run($0, on: isa) } }
        let chunk = GradientNorm.chunk
        switch self {
        case .lamb(let k):
            let norms = run(.lambMoments(k, t, gradScale: gradScale), t.count, chunk)
            let p = Float(norms.paramSquares.squareRoot()), u = Float(norms.updateSquares.squareRoot())
            let ratio: Float = p == 0 || u == 0 ? 1 : p / u
            return run(.lambApply(k, t, ratio: ratio), t.count, chunk)

        case .adafactor(let k):
            let rms = Double(Float(GradientNorm.sumOfSquares(t.params, count: t.count, parallel: parallel, on: isa).squareRoot()))
                / Double(t.count).squareRoot()
            let alpha = max(k.eps2, rms) * k.rho
            let coefficient = { (squares: Double) in Float(-alpha / max(1, squares.squareRoot() / (Double(t.count).squareRoot() * k.d))) }
            guard t.shape.count >= 2 else {
                let squares = run(.adafactorFull(k, t, gradScale: gradScale, apply: nil), t.count, chunk).updateSquares
                return run(.adafactorFull(k, t, gradScale: gradScale, apply: coefficient(squares)), t.count, chunk)
            }
            let columns = t.shape[t.shape.count - 1], perMatrix = t.shape[t.shape.count - 2]
            let rows = t.count / columns
            let floors = Self.factorMoments(k, t, gradScale: gradScale, columns: columns, rowsPerMatrix: perMatrix,
                                            parallel: parallel, on: isa)
            defer { floors.deallocate() }
            let perPiece = max(1, chunk / columns)
            let squares = run(.adafactorFactored(k, t, gradScale: gradScale, rowsPerMatrix: perMatrix, columns: columns,
                                                 rowFloor: floors, apply: nil), rows, perPiece).updateSquares
            return run(.adafactorFactored(k, t, gradScale: gradScale, rowsPerMatrix: perMatrix, columns: columns,
                                          rowFloor: floors, apply: coefficient(squares)), rows, perPiece)

        case .muon(let k):
            let rows = t.shape[0], cols = t.count / max(rows, 1)
            let update = UnsafeMutablePointer<Float>.allocate(capacity: t.count)
            defer { update.deallocate() }
            let norm = Float(run(.muonMomentum(k, t, gradScale: gradScale, into: update), t.count, chunk).updateSquares.squareRoot())
            NewtonSchulz.orthogonalize(update, rows: rows, cols: cols, scale: 1 / max(norm, k.eps),
                                       coefficients: k.coefficients, steps: k.steps)
            let coefficient = Float(-k.adjustedLR(rows: rows, cols: cols))
            return run(.muonApply(k, t, orthogonal: update, coefficient: coefficient), t.count, chunk)
        }
    }

    /// Adafactor's factored second moment: the squared gradient's row and column means folded
    /// into `row_var` and `col_var`. Returns each matrix's clamped mean of `row_var`
    /// (deallocate it).
    private static func factorMoments(_ k: Adafactor, _ t: TensorBuffers, gradScale: Float, columns: Int, rowsPerMatrix: Int,
                                      parallel: Parallel, on isa: InstructionSet) -> UnsafeMutablePointer<Float> {
        let matrices = t.count / (columns * rowsPerMatrix)
        let perPiece = max(1, GradientNorm.chunk / columns)
        let piecesPerMatrix = (rowsPerMatrix + perPiece - 1) / perPiece
        let pieces = matrices * piecesPerMatrix
        let rowSquares = UnsafeMutablePointer<Float>.allocate(capacity: matrices * rowsPerMatrix)
        let columnSquares = UnsafeMutablePointer<Float>.allocate(capacity: pieces * columns)
        defer { rowSquares.deallocate(); columnSquares.deallocate() }
        columnSquares.initialize(repeating: 0, count: pieces * columns)
        parallel.forEachItem(count: pieces) { piece in
            let matrix = piece / piecesPerMatrix, first = matrix * rowsPerMatrix + (piece % piecesPerMatrix) * perPiece
            let rows = first..<min(first + perPiece, (matrix + 1) * rowsPerMatrix)
            _ = TensorPass.adafactorSquares(k, t, gradScale: gradScale, columns: columns, rowSquares: rowSquares,
                                            columnSquares: columnSquares + piece * columns).run(rows, on: isa)
        }
        let rowVar = t.state[0]!, colVar = t.state[1]!
        let floors = UnsafeMutablePointer<Float>.allocate(capacity: matrices)
        for matrix in 0..<matrices {
            var rowSum: Float = 0
            for r in (matrix * rowsPerMatrix)..<((matrix + 1) * rowsPerMatrix) {
                rowVar[r] = k.blend(rowVar[r], rowSquares[r] / Float(columns))
                rowSum += rowVar[r]
            }
            floors[matrix] = k.rowMeanFloor(rowSum / Float(rowsPerMatrix))
            for c in 0..<columns {
                var sum: Float = 0
                for piece in (matrix * piecesPerMatrix)..<((matrix + 1) * piecesPerMatrix) { sum += columnSquares[piece * columns + c] }
                colVar[matrix * columns + c] = k.blend(colVar[matrix * columns + c], sum / Float(rowsPerMatrix))
            }
        }
        return floors
    }

    /// `body` over `0..<count` cut every `per`, the pieces' statistics added in order.
    private static func split(_ count: Int, per: Int, _ parallel: Parallel, _ body: (Range<Int>) -> UpdateStats) -> UpdateStats {
        let pieces = (count + per - 1) / per
        return withUnsafeTemporaryAllocation(of: UpdateStats.self, capacity: max(pieces, 1)) { partial in
            let out = partial.baseAddress!
            parallel.forEachItem(count: pieces) { i in out[i] = body((i * per)..<min(count, (i + 1) * per)) }
            var total = UpdateStats()
            for i in 0..<pieces { total = total + out[i] }
            return total
        }
    }
}
