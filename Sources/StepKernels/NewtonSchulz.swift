import CBLAS

/// Muon's orthogonalization: `steps` quintic Newton-Schulz iterations on a matrix scaled to
/// norm <= 1, as torch.optim.Muon's `_zeropower_via_newtonschulz`, in float32 (torch runs it in
/// bfloat16; the conformance case accepts either):
///
///     X = u * scale, transposed when it has more rows than columns (so X X^T is the small side)
///     repeat: G = X X^T;  H = b G + c G G;  X = a X + H X
///
/// Three BLAS products per iteration (`sgemm`), scaling and transposing with `somatcopy`.
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
        BLAS.shared.withTurn {
            var x = x0, y = y0
            cblas_somatcopy(CblasRowMajor, transposed ? CblasTrans : CblasNoTrans, Int32(rows), Int32(cols), scale, u, Int32(cols), x,
                            transposed ? Int32(rows) : Int32(cols))
            for _ in 0..<steps {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, M, N, 1, x, N, x, N, 0, g, M)
                h.update(from: g, count: m * m)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, M, M, k.c, g, M, g, M, k.b, h, M)
                y.update(from: x, count: m * n)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, M, 1, h, M, x, N, k.a, y, N)
                swap(&x, &y)
            }
            if transposed {
                cblas_somatcopy(CblasRowMajor, CblasTrans, M, N, 1, x, N, u, M)
            } else {
                u.update(from: x, count: m * n)
            }
        }
    }
}
