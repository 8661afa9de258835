import StepHTTP
import StepHTTPTesting
import Foundation
import StepCore
import StepJSON
import StepStore
import StepTensors

/// `stepd-fuzz seeds DIR` writes the binary seeds: DIR/checkpoint (real checkpoints from
/// `SessionCheckpoint.writer`, with and without the checksum, and copies whose metadata sits at
/// the edges), DIR/safetensors and DIR/step-binary. The text seeds (config, step-json, router)
/// are plain files kept in the repository as written. Output is deterministic, so rerunning it
/// leaves git clean unless the checkpoint format changed.
enum SeedGenerator {
    static func write(to dir: String) throws {
        var written = 0
        func put(_ harness: Harness, _ name: String, _ bytes: [UInt8]) throws {
            let folder = "\(dir)/\(harness.rawValue)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try Data(bytes).write(to: URL(fileURLWithPath: "\(folder)/\(name)"))
            written += 1
        }

        // Checkpoints of real sessions: every optimizer's state roles, no history, pending
        // accumulation; each with its checksum (as stepd writes them) and without (as a file
        // edited by hand or saved by another tool would be).
        let sessions = try checkpointSessions()
        for (name, bytes) in sessions {
            try put(.checkpoint, "\(name).safetensors", bytes)
            try put(.checkpoint, "\(name)-nocrc.safetensors", try rewrite(bytes, checksum: false) { _ in })
        }
        // Metadata at the edges of Int and Double, and shapes whose product is huge. Without a
        // checksum (byte mutations of these reach restore directly) and a few with a correct one.
        let base = sessions.first { $0.0 == "adamw" }!.1
        let pending = sessions.first { $0.0 == "adamw-pending-accumulation" }!.1
        for (name, source, edit) in edgeEdits(base: base, pending: pending) {
            try put(.checkpoint, "edge-\(name)-nocrc.safetensors", try rewrite(source, checksum: false, edit))
        }
        for (name, source, edit) in edgeEdits(base: base, pending: pending)
        where ["seen-1e300", "shape-1048576x1048576", "step-9.3e18", "version-minus1"].contains(name) {
            try put(.checkpoint, "edge-\(name).safetensors", try rewrite(source, checksum: true, edit))
        }

        // Checkpoint uploads through the router (RouterHarness's text form, binary body).
        let auth = "Authorization: Bearer \(Fixtures.token)\n"
        try put(.router, "put-checkpoint.http", Array("PUT /v1/sessions/s/checkpoint HTTP/1.1\n\(auth)Content-Type: application/vnd.safetensors\nContent-Length: \(base.count)\n\n".utf8) + base)
        try put(.router, "post-checkpoint.http", Array("POST /v1/sessions?id=copy HTTP/1.1\n\(auth)Content-Type: application/vnd.safetensors\n\n".utf8) + pending)

        // Safetensors files: every dtype family, empty and scalar shapes, metadata, checksum.
        try put(.safetensors, "checkpoint-adamw.safetensors", base)
        try put(.safetensors, "empty-header.safetensors", Array(#"{}      "#.utf8).withLengthPrefix)
        try put(.safetensors, "metadata-only.safetensors", Array(#"{"__metadata__":{"format":"pt"}}     "#.utf8).withLengthPrefix)
        try put(.safetensors, "mixed-dtypes.safetensors", try safetensors([
            ("w", .f32, [2, 3], floats([0.5, -0.5, 0.25, 1, 2, -3])),
            ("h", .f16, [2], [0x00, 0x3c, 0x00, 0xc0]),
            ("bh", .bf16, [2], [0x80, 0x3f, 0x00, 0xc0]),
            ("step", .i64, [], [7, 0, 0, 0, 0, 0, 0, 0]),
            ("mask", .bool, [3], [1, 0, 1]),
            ("empty", .f32, [0, 4], []),
        ], metadata: ["format": "pt", "note": "seed"], checksum: false))
        try put(.safetensors, "with-checksum.safetensors", try safetensors([
            ("a", .f32, [2], floats([1, 2])), ("b", .u8, [4], [1, 2, 3, 4]),
        ], metadata: ["step": "3"], checksum: true))

        // Binary steps: see StepBinaryHarness for the four control bytes.
        let f32 = floats([0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 1, -1])
        let half: [UInt8] = [0x00, 0x3c, 0x00, 0xbc, 0x00, 0x38, 0x00, 0xb8, 0x66, 0x2e, 0x66, 0xae, 0x00, 0x00, 0x00, 0x40]
        try put(.stepBinary, "f32-exact-length.bin", [1, 1, 0, 0] + f32)
        try put(.stepBinary, "no-dtype-no-length-3-cuts.bin", [0, 0, 0, 3, 5, 1, 7] + f32)
        try put(.stepBinary, "bf16-exact-2-cuts.bin", [2, 1, 0, 2, 3, 9] + half)
        try put(.stepBinary, "f16-chunked.bin", [3, 4, 0, 1, 1] + half)
        try put(.stepBinary, "f32-short.bin", [1, 1, 0, 0] + f32.dropLast())
        try put(.stepBinary, "f32-long.bin", [1, 1, 0, 1, 32] + f32 + [0, 0, 0, 0])
        try put(.stepBinary, "f32-length-too-large.bin", [1, 2, 4, 0] + f32)
        try put(.stepBinary, "f32-length-too-small.bin", [1, 3, 4, 0] + f32)
        try put(.stepBinary, "conflicting-lengths.bin", [1, 5, 1, 0] + f32)
        try put(.stepBinary, "length-not-a-number.bin", [1, 6, 0, 0] + f32)
        try put(.stepBinary, "length-over-limit.bin", [1, 7, 0, 0] + f32)
        try put(.stepBinary, "loss-key-if-match.bin", [1 | 8 | 32 | 64, 1, 7, 0] + f32)
        try put(.stepBinary, "nan-loss-worker.bin", [1 | 16 | 128, 1, 1, 0] + f32)
        try put(.stepBinary, "nonfinite-values.bin", [1, 1, 0, 0] + floats([.nan, 1, .infinity, 0, 0, 0, 0, 0]))
        try put(.stepBinary, "unknown-dtype.bin", [6, 1, 0, 0] + f32)
        print("stepd-fuzz seeds: wrote \(written) files under \(dir)")
    }

    /// Small sessions after a step or two, as checkpoint bytes.
    static func checkpointSessions() throws -> [(String, [UInt8])] {
        let w: JSONValue = ["name": "w", "shape": [2, 3], "values": [0.5, -0.5, 0.25, 1, 2, -3]]
        let b: JSONValue = ["name": "b", "shape": [2], "init": "zeros"]
        let grads: [String: [Double]] = ["w": [0.1, 0.2, 0.3, -0.1, -0.2, -0.3], "b": [1, -1]]
        func session(_ optimizer: JSONValue, steps: Int, extra: [(String, JSONValue)] = [],
                     contributions: [Contribution] = []) throws -> [UInt8] {
            var o = JSONObject([("optimizer", optimizer), ("params", [w, b])])
            for (k, v) in extra { o[k] = v }
            let (config, inits) = try SessionConfig.parse(.object(o))
            let s = Session(id: "seed", config: config, inits: inits, parallel: .serial)
            for i in 0..<steps { _ = try s.step(grads: grads, loss: 1.0 / Double(i + 1)) }
            for c in contributions { _ = try s.step(grads: grads, loss: 0.5, contribution: c) }
            var image = s.capture()
            // The history's wall-clock times would make every regeneration differ.
            image.history = image.history.map { r in
                var r = r
                r.time = 0
                return r
            }
            return try SessionCheckpoint.writer(image).makeBytes()
        }
        return [
            ("adamw", try session(["type": "adamw", "lr": 0.01], steps: 2, extra: [
                ("schedule", ["type": "warmup_cosine", "warmup_steps": 2, "total_steps": 100, "min_lr_ratio": 0.1]),
                ("clip", ["max_norm": 1.0]), ("history", ["capacity": 64]),
            ])),
            ("adam-amsgrad-maximize", try session(["type": "adam", "amsgrad": true, "maximize": true], steps: 1)),
            ("sgd-nesterov", try session(["type": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": true], steps: 1,
                                         extra: [("schedule", ["type": "step", "step_size": 10, "gamma": 0.5])])),
            ("rmsprop-centered", try session(["type": "rmsprop", "centered": true, "momentum": 0.5], steps: 1)),
            ("adagrad-no-steps", try session(["type": "adagrad"], steps: 0)),
            ("adamw-pending-accumulation", try session(["type": "adamw"], steps: 0,
                                                       extra: [("accumulation", ["micro_batches": 2, "workers": 2])],
                                                       contributions: [Contribution(worker: 1, microBatch: 0)])),
        ]
    }

    typealias Edit = (inout [String: String]) -> Void

    /// Each edit changes one metadata entry of a real checkpoint.
    static func edgeEdits(base: [UInt8], pending: [UInt8]) -> [(String, [UInt8], Edit)] {
        func set(_ key: String, _ value: String) -> Edit { { $0[key] = value } }
        func replace(_ key: String, _ old: String, _ new: String) -> Edit {
            { m in m[key] = m[key]!.replacingOccurrences(of: old, with: new) }
        }
        func shapes(_ w: String, _ b: String) -> Edit {
            { m in
                m["config"] = m["config"]!.replacingOccurrences(of: #""shape":[2,3]"#, with: "\"shape\":\(w)")
                    .replacingOccurrences(of: #""shape":[2]"#, with: "\"shape\":\(b)")
            }
        }
        return [
            // Known: `Int(1e300)` traps in PendingContributions (fixed on main).
            ("seen-1e300", pending, set("accumulation", #"{"seen":[[1e300,0]],"losses":[0.5],"finite":true}"#)),
            ("seen-minus1", pending, set("accumulation", #"{"seen":[[-1,0]],"losses":[0.5],"finite":true}"#)),
            ("seen-9.3e18", pending, set("accumulation", #"{"seen":[[9.3e18,1]],"losses":[0.5],"finite":true}"#)),
            ("seen-duplicates", pending, set("accumulation", #"{"seen":[[1,0],[1,0],[5,5]],"losses":[1e300,-1e300],"finite":false}"#)),
            // Known: a 2^20 x 2^20 tensor in the config is zero-filled (4 TiB) before any check (fixed on main).
            // ("b" becomes empty: 2^40 elements is the most a session may declare.)
            ("shape-1048576x1048576", base, shapes("[1048576,1048576]", "[0]")),
            ("shape-2^40", base, shapes("[1099511627776]", "[0]")),
            ("shape-2^40-plus-2", base, shapes("[1048576,1048576]", "[2]")),
            ("shape-negative", base, replace("config", #""shape":[2,3]"#, #""shape":[-1,3]"#)),
            ("step-9.3e18", base, set("step", "9.3e18")),
            ("step-int-max", base, set("step", "9223372036854775807")),
            ("step-minus1", base, set("step", "-1")),
            ("step-1e300", base, set("step", "1e300")),
            ("version-minus1", base, set("version", "-1")),
            ("version-2^64", base, set("version", "18446744073709551616")),
            ("history-step-1e300", base, replace("history", #""step":1,"#, #""step":1e300,"#)),
            ("history-step-minus1", base, replace("history", #""step":2,"#, #""step":-9.3e18,"#)),
            ("lr-1e300", base, replace("config", #""lr":0.01"#, #""lr":1e300"#)),
            ("micro-batches-65536", pending, replace("config", #""micro_batches":2"#, #""micro_batches":65536"#)),
            ("history-capacity-huge", base, replace("config", #""capacity":64"#, #""capacity":9.3e18"#)),
            ("no-param-names", base, set("param_names", "[]")),
        ]
    }

    /// The checkpoint `bytes` with `edit` applied to its metadata, written again.
    static func rewrite(_ bytes: [UInt8], checksum: Bool, _ edit: Edit) throws -> [UInt8] {
        guard var parts = SafetensorsParts(bytes) else { throw SeedError("a generated checkpoint does not parse") }
        edit(&parts.metadata)
        guard let out = parts.encoded(checksum: checksum) else { throw SeedError("cannot write an edited checkpoint") }
        return out
    }

    static func safetensors(_ tensors: [(String, SafetensorsDType, [Int], [UInt8])], metadata: [String: String],
                            checksum: Bool) throws -> [UInt8] {
        var parts = SafetensorsParts([UInt8](#"{}      "#.utf8).withLengthPrefix)!
        parts.metadata = metadata
        parts.tensors = tensors.map { ($0.0, $0.1, $0.2, $0.3) }
        guard let out = parts.encoded(checksum: checksum) else { throw SeedError("cannot write a safetensors seed") }
        return out
    }

    static func floats(_ values: [Float]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }

    struct SeedError: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }
}

extension Array where Element == UInt8 {
    /// A safetensors header JSON with its 8-byte little-endian length in front.
    var withLengthPrefix: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: UInt64(count) >> (8 * UInt64($0))) } + self
    }
}
