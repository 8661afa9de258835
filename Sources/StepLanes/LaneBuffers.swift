/// What one update pass streams over: the parameters, the (unscaled) gradient and up to four
/// optimizer state buffers, each covering the same index range. The state slots are positional;
/// each kernel documents which slot holds what, and StepCore's optimizer descriptors bind them
/// by torch's state names. A slot a configuration does not use is nil.
public struct LaneBuffers: @unchecked Sendable {
    public var params: UnsafeMutablePointer<Float>
    public var grads: UnsafePointer<Float>
    public var s0: UnsafeMutablePointer<Float>?
    public var s1: UnsafeMutablePointer<Float>?
    public var s2: UnsafeMutablePointer<Float>?
    public var s3: UnsafeMutablePointer<Float>?

    public init(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>, state: [UnsafeMutablePointer<Float>?] = []) {
        precondition(state.count <= 4, "a kernel has at most four state buffers")
        self.params = params
        self.grads = grads
        s0 = state.count > 0 ? state[0] : nil
        s1 = state.count > 1 ? state[1] : nil
        s2 = state.count > 2 ? state[2] : nil
        s3 = state.count > 3 ? state[3] : nil
    }
}
