import ArgumentParser

@main
struct Stepd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stepd",
        abstract: "An optimizer as a service: post gradients over HTTP, get updated parameters back.",
        subcommands: [ServeCommand.self, ConformanceCommand.self, BenchCommand.self, OptimizersCommand.self],
        defaultSubcommand: ServeCommand.self
    )
}
