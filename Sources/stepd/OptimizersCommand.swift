import StepHTTP
import ArgumentParser
import StepCore

/// `stepd optimizers`: the optimizer catalogue as the README's markdown table.
struct OptimizersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optimizers",
        abstract: "Print every optimizer stepd implements (type, fields with defaults, state, reference) as a markdown table.")

    func run() {
        print(Optimizers.markdownTable)
    }
}
