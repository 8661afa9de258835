/// Which part of an accumulated step a gradient post is: worker `w`'s micro-batch `m`.
public struct Contribution: Sendable, Hashable {
    public var worker: Int
    public var microBatch: Int
    public init(worker: Int, microBatch: Int) {
        self.worker = worker
        self.microBatch = microBatch
    }
}
