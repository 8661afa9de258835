import StepHTTP
import StepHTTPTesting
import StepCore
import StepServer
import StepStore
import StepTensors

/// The input as a whole-session checkpoint (a safetensors file written by
/// `SessionCheckpoint.writer`), restored the two ways stepd restores one:
/// 1. `SessionCheckpoint.image(from:)` and `Session(restoring:)`, as snapshot restore does;
/// 2. `POST /v1/sessions` with `Content-Type: application/vnd.safetensors` on a fresh service
///    (so every input starts from an empty registry and replays the same), which also checks a
///    checksum when the file carries one. A session it creates must download as a checkpoint
///    that restores again.
/// `CheckpointMutator` edits the metadata (config, step, history, accumulation) and keeps or
/// drops the checksum, so mutations get past the checksum and the header framing.
enum CheckpointHarness {
    static func run(_ data: UnsafeRawBufferPointer) {
        let bytes = Array(data)
        if let file = try? SafetensorsFile(bytes: bytes), let image = try? SessionCheckpoint.image(from: file) {
            _ = try? Session(restoring: image, parallel: .serial)
        }

        let router = Fixtures.service().router()
        let head = HTTPRequestHead(method: .post, target: "/v1/sessions",
                                   headers: [.contentType: "application/vnd.safetensors", .contentLength: String(bytes.count)])
        let created = router.handle(head, body: bytes, chunkSize: 4096)
        Fixtures.check(created, "a checkpoint upload")
        guard created.status.code == 201, case .string(let id)? = try? created.jsonBody()["id"] else { return }

        let download = router.handle(HTTPRequestHead(method: .get, target: "/v1/sessions/\(id)/checkpoint"))
        precondition(download.status.code == 200, "the restored session \(id) does not download: \(download.status)")
        let again: [UInt8]
        do { again = try download.collectBody() } catch { fatalError("the restored session's checkpoint stream failed: \(error)") }
        do {
            let file = try SafetensorsFile(bytes: again)
            try file.verifyChecksum()
            _ = try Session(restoring: try SessionCheckpoint.image(from: file), parallel: .serial)
        } catch {
            fatalError("the checkpoint of a restored session does not restore again: \(error)")
        }
    }
}
