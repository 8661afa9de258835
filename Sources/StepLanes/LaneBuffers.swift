/// What one update pass streams over: the parameters, the (unscaled) gradient and up to four
/// optimizer state buffers, each covering the same index range, all stored as `dtype` says. The
/// state slots are positional; each kernel documents which slot holds what, and StepCore's
/// optimizer descriptors bind them by torch's state names. A slot a configuration does not use
/// is nil.
public struct LaneBuffers: @unchecked Sendable {
    public var params: UnsafeMutablePointer<Float>
    public var grads: UnsafePointer<Float>
    public var s0: StateSlot?
    public var s1: StateSlot?
    public var s2: StateSlot?
    public var s3: StateSlot?
    public var dtype: StateDType
    /// q8: the element index where block 0 starts (the tensor's first element); a pass over q8
    /// state starts on a block boundary and ends on one or at the tensor's end.
    public var blockOrigin: Int

    public init(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>, state: [StateSlot?],
                dtype: StateDType, blockOrigin: Int = 0) {
        precondition(state.count <= 4, "a kernel has at most four state buffers")
        precondition(dtype != .q8 || state.allSatisfy { $0 == nil || $0!.absmax != nil }, "q8 state has an absmax per block")
        self.params = params
        self.grads = grads
        s0 = state.count > 0 ? state[0] : nil
        s1 = state.count > 1 ? state[1] : nil
        s2 = state.count > 2 ? state[2] : nil
        s3 = state.count > 3 ? state[3] : nil
        self.dtype = dtype
        self.blockOrigin = blockOrigin
    }

    /// float32 state, element i of each buffer at index i.
    public init(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>, state: [UnsafeMutablePointer<Float>?] = []) {
        self.init(params: params, grads: grads, state: state.map { $0.map { StateSlot(UnsafeMutableRawPointer($0)) } }, dtype: .f32)
    }
}

/// One state buffer of a pass. Element i (the same index as the parameters') is at
/// `base + i * dtype.elementBytes`; for q8, `absmax[j]` scales block j counted from
/// `LaneBuffers.blockOrigin`, and `map` is the code book.
public struct StateSlot: @unchecked Sendable {
    public var base: UnsafeMutableRawPointer
    public var absmax: UnsafeMutablePointer<Float>?
    public var map: QuantizationMap

    public init(_ base: UnsafeMutableRawPointer, absmax: UnsafeMutablePointer<Float>? = nil, map: QuantizationMap = .signed) {
        self.base = base
        self.absmax = absmax
        self.map = map
    }
}
