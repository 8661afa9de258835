import CBLAS
import Synchronization

/// The process's one door to OpenBLAS. OpenBLAS runs each product on a pool of threads of its
/// own, as wide as the cores this process may use (`ProcessorCount.active`, set once, before
/// the first call). Calls take turns through one lock, one product at a time, so two sessions'
/// Muon steps never put two products' threads on the same cores; everything between products
/// (copies, mirroring, a Muon step's elementwise ends on the session's own threads) runs
/// outside it, so concurrent steps overlap there.
public final class BLAS: Sendable {
    public static let shared = BLAS(threads: ProcessorCount.active)
    private let turn = Mutex(())
    public let threads: Int

    init(threads: Int) {
        self.threads = threads
        openblas_set_num_threads(Int32(threads))
    }

    /// OpenBLAS's kernel family for this CPU ("Haswell", "SkylakeX", ...): what the startup
    /// line reports, since an OpenBLAS older than the CPU may pick a narrower one (Debian
    /// bookworm's runs Haswell kernels on Zen 4 and 5; `OPENBLAS_CORETYPE` overrides it).
    public var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "?" }

    /// Runs `body`, which calls BLAS, when no other caller is inside.
    public func withTurn<R>(_ body: () throws -> R) rethrows -> R {
        try turn.withLock { _ in try body() }
    }
}
