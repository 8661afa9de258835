import StepHTTP
import ArgumentParser
import Logging
import StepCore
import StepKernels
import StepServer
import StepStore

/// Snapshot flags, and the wiring of StepStore's manager into the server.
struct SnapshotOptions: ParsableArguments {
    @Option(help: "Snapshot a session every N applied steps (0: off; 1: a step is answered only once durable; per session: snapshot.every_steps).")
    var snapshotEverySteps = 0
    @Option(help: "Snapshot changed sessions every T seconds (0: off; per session: snapshot.interval_s).")
    var snapshotInterval: Double = 30
    @Option(help: "Snapshots kept per session.")
    var snapshotKeep = 2

    struct Store {
        var persistence: any SessionPersistence
        var shutdown: () -> Void
    }

    /// Restores every session under `dataDir` into `registry`, then starts interval snapshots.
    func makePersistence(dataDir: String, registry: SessionRegistry, logger: Logger) throws -> Store {
        guard !dataDir.isEmpty else { return Store(persistence: InMemoryOnly(), shutdown: {}) }
        guard snapshotKeep >= 1 else { throw ValidationError("--snapshot-keep must be at least 1, got \(snapshotKeep)") }
        guard snapshotEverySteps >= 0, snapshotInterval >= 0 else {
            throw ValidationError("--snapshot-every-steps and --snapshot-interval must be >= 0")
        }
        let manager = SnapshotManager(
            directory: SnapshotDirectory(dataDirectory: dataDir, keep: snapshotKeep),
            defaults: .init(everySteps: snapshotEverySteps, intervalSeconds: snapshotInterval),
            movedRetention: registry.limits.movedAway,
            log: { logger.error("\($0)") })
        let (sessions, movedAway, problems) = manager.restoreAll(parallel: .machine)
        for p in problems { logger.error("restore: \(p)") }
        for s in sessions {
            registry.insertRestored(s)
            logger.info("restored session \(s.id) at step \(s.step)\(s.tenant.map { " (tenant \($0))" } ?? "")\(s.movingTo.map { ", frozen for its move to \($0.base)" } ?? "")")
        }
        registry.insertMovedAway(movedAway)
        manager.start { [registry] in registry.all }
        return Store(persistence: SnapshotPersistence(manager: manager), shutdown: { [registry] in
            manager.shutdown(sessions: registry.all)
        })
    }
}
