import StepCore
import StepJSON
import Testing
@testable import StepStore
import StepTensors
import StepTensorsTesting

/// A checkpoint is untrusted input (an upload, or a file someone edited): restoring one checks
/// every number and every tensor against the config before anything is allocated, with or
/// without a checksum, and refuses with the field named instead of trapping or allocating
/// what the file merely claims.
@Suite struct CheckpointValidationTests {
    static let accumulating = """
        {"optimizer": {"type": "adamw", "lr": 0.01}, "accumulation": {"micro_batches": 2, "workers": 2},
         "params": [{"name": "w", "shape": [2, 2], "values": [1, 2, 3, 4]}, {"name": "b", "shape": [2], "init": "zeros"}]}
        """

    /// A real checkpoint of a session with one contribution pending, as bytes.
    static func checkpoint() throws -> [UInt8] {
        let (config, inits) = try SessionConfig.parse(try JSONParser.parse(accumulating))
        let s = Session(id: "c", config: config, inits: inits, parallel: .serial)
        _ = try s.step(grads: ["w": [0.1, 0.2, 0.3, 0.4], "b": [1, 2]], contribution: Contribution(worker: 1, microBatch: 0))
        let image = s.capture()
        return try withExtendedLifetime(image) { try SessionCheckpoint.writer(image).makeBytes() }
    }

    /// The same tensors under edited metadata (and optionally edited tensor headers), written
    /// without a checksum: what someone crafting a file would send.
    static func rewrite(_ bytes: [UInt8], metadata edit: (inout [String: String]) -> Void = { _ in },
                        tensors editTensors: ([(String, SafetensorsDType, [Int], [UInt8])]) -> [(String, SafetensorsDType, [Int], [UInt8])] = { $0 }) throws -> [UInt8] {
        let file = try SafetensorsFile(bytes: bytes)
        var meta = file.metadata
        meta[SafetensorsChecksum.metadataKey] = nil
        edit(&meta)
        let tensors = try file.tensors.map { t in (t.name, t.dtype, t.shape, floatBytes(try file.floats(t.name))) }
        return try withWriter(editTensors(tensors), metadata: meta, checksum: false) { $0.makeBytes() }
    }

    static func refuses(_ bytes: [UInt8], mentioning field: String) {
        do {
            _ = try SessionCheckpoint.image(from: try SafetensorsFile(bytes: bytes))
            Issue.record("a crafted checkpoint was accepted (expected a refusal naming \(field))")
        } catch {
            #expect("\(error)".contains(field), "\(error) should name \(field)")
        }
    }

    @Test func anUntouchedCheckpointWithoutAChecksumStillRestores() throws {
        let bytes = try Self.rewrite(try Self.checkpoint())
        let image = try SessionCheckpoint.image(from: try SafetensorsFile(bytes: bytes))
        #expect(image.pending?.seen == [Contribution(worker: 1, microBatch: 0)])
        _ = try Session(restoring: image, parallel: .serial)
    }

    @Test(arguments: ["[[1e300, 0]]", "[[0, -1]]", "[[0.5, 0]]", "[[9.3e18, 0]]", "[[0, 2147483648]]", "[[0]]", "[\"x\"]"])
    func pendingContributionsOutsideIntegersAreRefusedNotTrapped(seen: String) throws {
        let bytes = try Self.rewrite(try Self.checkpoint()) { $0["accumulation"] = #"{"seen": \#(seen), "losses": [], "finite": true}"# }
        Self.refuses(bytes, mentioning: "accumulation.seen")
    }

    @Test(arguments: ["[[5, 0]]", "[[0, 0], [0, 0]]", "[[0, 0], [0, 1], [1, 0], [1, 1]]"])
    func pendingContributionsOutsideTheSessionsAccumulationAreRefused(seen: String) throws {
        let bytes = try Self.rewrite(try Self.checkpoint()) { $0["accumulation"] = #"{"seen": \#(seen), "losses": [], "finite": true}"# }
        let image = try SessionCheckpoint.image(from: try SafetensorsFile(bytes: bytes))
        #expect(throws: SessionError.self) { try Session(restoring: image, parallel: .serial) }
    }

    @Test func aConfigDeclaringAHugeTensorIsRefusedBeforeAnythingIsAllocated() throws {
        let huge = #"{"optimizer": {"type": "adamw", "lr": 0.01}, "params": [{"name": "w", "shape": [1048576, 1048576], "init": "zeros"}]}"#
        let bytes = try Self.rewrite(try Self.checkpoint()) { $0["config"] = huge; $0["accumulation"] = nil }
        // 4 TiB per buffer if it were allocated: the test would abort rather than fail.
        Self.refuses(bytes, mentioning: "params.w")
    }

    @Test(arguments: ["-1", "1e300", "9223372036854775807", "x", ""])
    func aStepOutOfRangeIsRefused(step: String) throws {
        let bytes = try Self.rewrite(try Self.checkpoint()) { $0["step"] = step }
        Self.refuses(bytes, mentioning: "step")
    }

    @Test func aTensorWithTheRightCountButAnotherShapeIsRefused() throws {
        let bytes = try Self.rewrite(try Self.checkpoint(), tensors: { ts in
            ts.map { $0.0 == "params.w" ? ($0.0, $0.1, [4], $0.3) : $0 }
        })
        Self.refuses(bytes, mentioning: "params.w")
    }

    @Test func aTensorTheConfigDoesNotHaveIsRefused() throws {
        let bytes = try Self.rewrite(try Self.checkpoint(), tensors: { $0 + [("params.extra", .f32, [1], floatBytes([1]))] })
        Self.refuses(bytes, mentioning: "params.extra")
    }

    @Test func aHistoryRecordWithAnOutOfRangeStepIsRefused() throws {
        let bytes = try Self.rewrite(try Self.checkpoint()) { $0["history"] = #"[{"step": 1e300}]"# }
        Self.refuses(bytes, mentioning: "history")
    }

    @Test(arguments: ["-1", "x", "", "1e300", "9007199254740993"])
    func aHistoryTotalThatIsNotACountOfRecordsIsRefused(total: String) throws {
        let bytes = try Self.rewrite(try Self.checkpoint()) { $0["history_total"] = total }
        Self.refuses(bytes, mentioning: "history_total")
    }

    @Test func aHistoryTotalBelowTheRecordsTheFileHoldsIsRefused() throws {
        let bytes = try Self.rewrite(try Self.checkpoint()) {
            $0["history"] = #"[{"step": 1, "loss": 1}, {"step": 2, "loss": 1}]"#
            $0["history_total"] = "1"
        }
        Self.refuses(bytes, mentioning: "history_total")
    }

    /// A poller (the dashboard) resumes with `after=<total it saw>`: a restored session must
    /// count on from where it was, not from the length of the tail it kept.
    @Test func aRestoredSessionKeepsCountingItsHistoryFromTheRecordsEverAppended() throws {
        let body = #"{"optimizer": {"type": "sgd", "lr": 0.1}, "history": {"capacity": 3}, "params": [{"name": "w", "shape": [2], "values": [1, 2]}]}"#
        let (config, inits) = try SessionConfig.parse(try JSONParser.parse(body))
        let s = Session(id: "h", config: config, inits: inits, parallel: .serial)
        for _ in 0..<5 { _ = try s.step(grads: ["w": [0.1, 0.2]]) }
        let image = s.capture()
        let bytes = try withExtendedLifetime(image) { try SessionCheckpoint.writer(image).makeBytes() }
        let restored = try Session(restoring: try SessionCheckpoint.image(from: try SafetensorsFile(bytes: bytes)), parallel: .serial)
        #expect(restored.historyPage().total == 5)
        #expect(restored.historyPage(after: 4).records.map(\.step) == [5])
        _ = try restored.step(grads: ["w": [0.1, 0.2]])
        #expect(restored.historyPage(after: 5).records.map(\.step) == [6])
        #expect(restored.historyPage().total == 6)
    }

    @Test("every optimizer's checkpoint restores its state tensors and per-group scalars exactly", arguments: Optimizers.types)
    func everyOptimizerRoundTrips(_ type: String) throws {
        let body = """
            {"optimizer": {"type": "\(type)", "lr": 0.01}, "groups": [{"name": "g", "lr": 0.02}],
             "params": [{"name": "w", "shape": [2, 2], "values": [1, 2, 3, 4]}, {"name": "b", "shape": \(type == "muon" ? "[1, 3]" : "[3]"), "values": [0.5, -0.5, 0.25], "group": "g"}]}
            """
        let (config, inits) = try SessionConfig.parse(try JSONParser.parse(body))
        let s = Session(id: "c", config: config, inits: inits, parallel: .serial)
        for k in 0..<3 {
            _ = try s.step(grads: ["w": [0.1, -0.2, 0.3, Double(k)], "b": [1, -2, 0.5]])
        }
        let image = s.capture()
        let bytes = try withExtendedLifetime(image) { try SessionCheckpoint.writer(image).makeBytes() }
        let file = try SafetensorsFile(bytes: bytes)
        for role in config.stateNames {
            let keeping = zip(config.layout.tensors, config.stateLayout.role(role)!.pieces).filter { $1 != nil }.map(\.0.name)
            #expect(!keeping.isEmpty, "\(type): no tensor keeps \(role)")
            for name in keeping { #expect(file.tensor(named: "state.\(name).\(role)") != nil, "\(type): state.\(name).\(role) missing") }
        }
        let back = try SessionCheckpoint.image(from: file)
        #expect(back.state.roles.map(\.name) == image.state.roles.map(\.name))
        for (a, b) in zip(back.state.roles, image.state.roles) {
            #expect(a.buffer.array.map(\.bitPattern) == b.buffer.array.map(\.bitPattern), "\(type): \(a.name)")
        }
        #expect(back.state.scalars.mapValues { $0.map(\.bitPattern) } == image.state.scalars.mapValues { $0.map(\.bitPattern) })
        #expect(back.state.scalars.isEmpty == Optimizers.named(type)!.scalars.isEmpty)
    }

    @Test("optimizer scalars in a checkpoint are checked: unknown group, unknown name, non-number")
    func optimizerScalarsAreValidated() throws {
        let body = """
            {"optimizer": {"type": "nadam"}, "params": [{"name": "w", "shape": [2], "values": [1, 2]}]}
            """
        let (config, inits) = try SessionConfig.parse(try JSONParser.parse(body))
        let s = Session(id: "c", config: config, inits: inits, parallel: .serial)
        _ = try s.step(grads: ["w": [0.1, 0.2]])
        let image = s.capture()
        let bytes = try withExtendedLifetime(image) { try SessionCheckpoint.writer(image).makeBytes() }
        for bad in [#"{"nope": {"mu_product": 0.5}}"#, #"{"default": {"mu_product": 0.5, "x": 1}}"#, #"{"default": {"mu_product": "a"}}"#,
                    #"{"default": {}}"#, "[1]"] {
            let edited = try Self.rewrite(bytes, metadata: { $0["optimizer_scalars"] = bad })
            #expect(throws: SessionError.self, "\(bad)") { _ = try SessionCheckpoint.image(from: try SafetensorsFile(bytes: edited)) }
        }
    }
}
