import Foundation
import Testing
@testable import StepCore

/// The README's optimizer table is the catalogue's: adding an optimizer without regenerating it
/// (`stepd optimizers`) fails here.
@Suite struct ReadmeOptimizerTableTests {
    @Test("README.md holds exactly the table Optimizers.markdownTable makes")
    func readmeTableMatchesCatalogue() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let begin = try #require(text.range(of: "<!-- optimizers:begin -->\n"))
        let end = try #require(text.range(of: "\n<!-- optimizers:end -->"))
        #expect(String(text[begin.upperBound..<end.lowerBound]) == Optimizers.markdownTable,
                "regenerate the table with `stepd optimizers`")
        for type in Optimizers.types { #expect(text.contains("| `\(type)` |")) }
    }
}
