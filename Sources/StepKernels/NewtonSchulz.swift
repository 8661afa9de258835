import CBLAS

/// Muon's orthogonalization: `steps` quintic Newton-Schulz iterations on a matrix scaled to
/// norm <= 1, as torch.optim.Muon's `_zeropower_via_newtonschulz`, in float32 (torch runs it in
/// bfloat16; the conformance case accepts either):
///
///     X = u * scale, transposed when it has more rows than columns (so X X^T is the small side)
///     repeat: G = X X^T;  H = b G + c G G;  X = a X + H X
///
/// G and H are symmetric, which the products use: G = X X^T and G G = G G^T are `ssyrk` (half
/// the multiplications of a general product) and H X is `ssymm`, so an iteration costs
/// 3·m²·n + m³ multiply-adds instead of 4·m²·n + 2·m³. Scaling and transposing is `somatcopy`.
enum NewtonSchulz {
    /// Replaces the `rows`×`cols` row-major `u` with its orthogonalization of `u * scale`.
    static func orthogonalize(_ u: UnsafeMutablePointer<Float>, rows: Int, cols: Int, scale: Float,
                              coefficients k: (a: Float, b: Float, c: Float), steps: Int) {
        let transposed = rows > cols
        let m = min(rows, cols), n = max(rows, cols)
        let x0 = UnsafeMutablePointer<Float>.allocate(capacity: m * n), y0 = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
        let g = UnsafeMutablePointer<Float>.allocate(capacity: m * m), h = UnsafeMutablePointer<Float>.allocate(capacity: m * m)
        defer { x0.deallocate(); y0.deallocate(); g.deallocate(); h.deallocate() }
        let M = Int32(m), N = Int32(n)
        // One BLAS call at a time (`BLAS.withTurn`), each with every core; the copies and the
        // mirroring between them run outside the turn, so two sessions' steps overlap there.
        let blas = BLAS.shared
        var x = x0, y = y0
        blas.withTurn {
            stepd_blas_somatcopy(StepdBlasRowMajor, transposed ? StepdBlasTrans : StepdBlasNoTrans, Int32(rows), Int32(cols), scale, u, Int32(cols), x,
                            transposed ? Int32(rows) : Int32(cols))
        }
        for _ in 0..<steps {
            // G = X X^T, upper triangle, then mirrored: the next product reads G whole.
            blas.withTurn { stepd_blas_ssyrk(StepdBlasRowMajor, StepdBlasUpper, StepdBlasNoTrans, M, N, 1, x, N, 0, g, M) }
            for i in 0..<m { for j in (i + 1)..<max(m, i + 1) { g[j * m + i] = g[i * m + j] } }
            // H = b G + c G G^T (upper triangle; ssymm reads only that).
            h.update(from: g, count: m * m)
            blas.withTurn { stepd_blas_ssyrk(StepdBlasRowMajor, StepdBlasUpper, StepdBlasNoTrans, M, M, k.c, g, M, k.b, h, M) }
            // X = a X + H X.
            y.update(from: x, count: m * n)
            blas.withTurn { stepd_blas_ssymm(StepdBlasRowMajor, StepdBlasLeft, StepdBlasUpper, M, N, 1, h, M, x, N, k.a, y, N) }
            swap(&x, &y)
        }
        if transposed {
            blas.withTurn { stepd_blas_somatcopy(StepdBlasRowMajor, StepdBlasTrans, M, N, 1, x, N, u, M) }
        } else {
            u.update(from: x, count: m * n)
        }
    }
}
