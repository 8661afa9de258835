import ArgumentParser
import Logging
import StepServer

/// Snapshot flags; the store is wired in `makePersistence`.
struct SnapshotOptions: ParsableArguments {
    @Option(help: "Snapshot a session every N applied steps (0: off; per session: snapshot.every_steps).")
    var snapshotEverySteps = 0
    @Option(help: "Snapshot changed sessions every T seconds (0: off; per session: snapshot.interval_s).")
    var snapshotInterval: Double = 30
    @Option(help: "Snapshots kept per session.")
    var snapshotKeep = 2

    struct Store {
        var persistence: any SessionPersistence
        var shutdown: () -> Void
    }

    func makePersistence(dataDir: String, registry: SessionRegistry, logger: Logger) throws -> Store {
        Store(persistence: InMemoryOnly(), shutdown: {})
    }
}
