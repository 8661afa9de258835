import ArgumentParser
import StepConformance
#if canImport(Glibc)
import Glibc
#endif

/// `stepd conformance PATH...`: replays recorded torch.optim runs through the session engine.
struct ConformanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conformance",
        abstract: "Replay conformance cases (files, or every *.json in a directory) and compare with PyTorch.")

    @Argument(help: "Conformance files or directories.")
    var paths: [String]

    @Option(help: "Threads for the kernels (results must not depend on it).")
    var threads: Int = 1

    func run() throws {
        let cases = try ConformanceCase.load(paths: paths)
        var failed = 0, notYet = 0
        for c in cases {
            var driver = SessionDriver(threads: threads)
            let r = ConformanceRunner.run(c, driver: &driver)
            print(r.line)
            if r.notYet != nil { notYet += 1 }
            if !r.passed {
                failed += 1
                for f in r.failures.prefix(5) { print("  \(f)") }
            }
        }
        print("\(cases.count - failed - notYet) passed, \(failed) failed, \(notYet) not yet runnable (named above)")
        if failed > 0 { throw ExitCode(1) }
    }
}
