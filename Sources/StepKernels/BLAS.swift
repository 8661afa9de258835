import CBLAS
import Synchronization

/// The process's one door to OpenBLAS. OpenBLAS runs each product on a pool of threads of its
/// own; two sessions' Muon steps calling it at once would put two pools on the same cores (on
/// a 2-core machine, four threads spinning on two cores). So calls take turns through one
/// lock, and each gets a pool as wide as the cores this process may use
/// (`ProcessorCount.active`, set once, before the first call). A Muon step's elementwise ends
/// run outside the lock, split over the session's own threads as every kernel is.
public final class BLAS: Sendable {
    public static let shared = BLAS(threads: ProcessorCount.active)
    private let turn = Mutex(())
    public let threads: Int

    init(threads: Int) {
        self.threads = threads
        openblas_set_num_threads(Int32(threads))
    }

    /// Runs `body`, which calls BLAS, when no other caller is inside.
    public func withTurn<R>(_ body: () throws -> R) rethrows -> R {
        try turn.withLock { _ in try body() }
    }
}
