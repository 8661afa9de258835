import StepHTTP
import StepCore

/// Streams a raw gradient body (`application/octet-stream`) straight into the session's
/// gradient buffer as chunks arrive, then submits the step. A body of the wrong length is
/// refused at the first byte too many, or at the end if short, and nothing is applied.
final class GradientBodyHandler: RequestBodyHandler {
    private let upload: GradientUpload
    private let submit: (GradientUpload) throws -> Response

    init(upload: GradientUpload, submit: @escaping (GradientUpload) throws -> Response) {
        self.upload = upload
        self.submit = submit
    }

    func consume(_ chunk: UnsafeRawBufferPointer) throws { try upload.write(chunk) }
    func finish() throws -> Response { try submit(upload) }
}
