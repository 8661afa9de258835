import Foundation
import StepConformance
import Testing

/// Every recorded torch.optim run in `../shared/conformance/` replayed through StepCore, on one
/// and on two threads. A missing directory fails (one failing case named after the path) rather
/// than silently running nothing.
@Suite struct ConformanceTests {
    static let directory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // StepCoreTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // package root
        .appendingPathComponent("../shared/conformance").standardizedFileURL

    static let caseFiles: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path))?.filter { $0.hasSuffix(".json") }.sorted() ?? []
        return names.isEmpty ? ["<no conformance cases in \(directory.path)>"] : names
    }()

    @Test("the conformance directory exists and holds the cases")
    func directoryHoldsCases() {
        #expect(FileManager.default.fileExists(atPath: Self.directory.path), "missing \(Self.directory.path)")
        #expect(Self.caseFiles.allSatisfy { $0.hasSuffix(".json") })
        #expect(Self.caseFiles.count >= 12, "\(Self.caseFiles)")
    }

    @Test("the case replays within tolerance", arguments: caseFiles, [1, 2])
    func caseReplays(file: String, threads: Int) throws {
        let url = Self.directory.appendingPathComponent(file)
        let c = try ConformanceCase(contentsOf: url)
        var driver = SessionDriver(threads: threads)
        let result = ConformanceRunner.run(c, driver: &driver)
        #expect(result.checks > 0)
        #expect(result.passed, "\(result.line)\n\(result.failures.prefix(5).joined(separator: "\n"))")
    }
}
