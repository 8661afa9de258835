import CBLAS
import Synchronization

/// The process's one door to OpenBLAS, loaded on first use (`BLAS.load()`, which a Muon
/// session's creation calls): a server that never runs Muon neither maps OpenBLAS nor starts
/// its threads (measured: a process linked with it idles at 4.4 MB resident against 1.4 MB).
/// OpenBLAS runs each product on a pool of threads of its own, as wide as the cores this
/// process may use (`ProcessorCount.active`, set once, before the first call). Calls take
/// turns through one lock, one product at a time, so two sessions' Muon steps never put two
/// products' threads on the same cores; everything between products (copies, mirroring, a
/// Muon step's elementwise ends on the session's own threads) runs outside it, so concurrent
/// steps overlap there.
public final class BLAS: Sendable {
    /// Why OpenBLAS cannot be used: it is not installed, or lacks a routine.
    public struct Unavailable: Error, CustomStringConvertible {
        public let description: String
    }

    private static let loaded: Result<BLAS, Unavailable> = {
        let threads = ProcessorCount.active
        if let why = stepd_blas_load(Int32(threads)) { return .failure(Unavailable(description: String(cString: why))) }
        return .success(BLAS(threads: threads))
    }()

    /// Loads OpenBLAS if it is not yet; throws if it cannot be. Whatever builds a session that
    /// runs BLAS calls this first, so a missing library is a refusal, never a failed step.
    @discardableResult
    public static func load() throws(Unavailable) -> BLAS { try loaded.get() }

    /// The loaded library, for the kernels of a session `load()` admitted.
    static var shared: BLAS {
        switch loaded {
        case .success(let blas): return blas
        case .failure(let why): preconditionFailure("BLAS used without BLAS.load() succeeding first: \(why)")
        }
    }

    private let turn = Mutex(())
    public let threads: Int

    private init(threads: Int) { self.threads = threads }

    /// OpenBLAS's kernel family for this CPU ("Haswell", "SkylakeX", ...): an OpenBLAS older
    /// than the CPU may pick a narrower one (Debian bookworm's runs Haswell kernels on Zen 4
    /// and 5; `OPENBLAS_CORETYPE` overrides it).
    public var coreName: String { String(cString: stepd_blas_corename()) }

    /// Runs `body`, which calls BLAS, when no other caller is inside.
    func withTurn<R>(_ body: () throws -> R) rethrows -> R {
        try turn.withLock { _ in try body() }
    }
}
