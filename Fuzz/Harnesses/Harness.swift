/// The harnesses in this binary, selected by the first argument (`stepd-fuzz config ...`).
/// Each one takes libFuzzer's bytes, drives one stepd API with them, and crashes (trap, sanitizer
/// report) only on a bug: every refusal the API is designed to give is a normal return.
enum Harness: String, CaseIterable {
    case config
    case stepJSON = "step-json"
    case stepBinary = "step-binary"
    case safetensors
    case checkpoint
    case router

    var summary: String {
        switch self {
        case .config: "SessionConfig.parse on a JSON document, then its round trip and a merge patch"
        case .stepJSON: "a JSON step body POSTed to /v1/sessions/s/steps through StepService().router()"
        case .stepBinary: "an octet-stream step: control bytes pick ?dtype=, Content-Length (present, absent, wrong) and chunk splits"
        case .safetensors: "SafetensorsFile from memory and from a file (mmap and pread): tensors, floats, checksum"
        case .checkpoint: "SessionCheckpoint.image(from:), Session(restoring:), and POST /v1/sessions as application/vnd.safetensors"
        case .router: "an HTTP request written as text (method, target, headers, body) through a fresh StepService().router()"
        }
    }

    func run(_ data: UnsafeRawBufferPointer) {
        switch self {
        case .config: ConfigHarness.run(data)
        case .stepJSON: StepJSONHarness.run(data)
        case .stepBinary: StepBinaryHarness.run(data)
        case .safetensors: SafetensorsHarness.run(data)
        case .checkpoint: CheckpointHarness.run(data)
        case .router: RouterHarness.run(data)
        }
    }
}
