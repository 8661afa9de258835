/// Every elementwise update rule, with its scalars resolved for one step. One enum rather than
/// a protocol so that each compiled copy of the kernels (portable in StepKernels, x86-64-v3 in
/// StepKernelsAVX2) gets every loop inlined and specialised through a single entry point: a
/// generic or protocol call would run the loop compiled in this module, with its flags.
/// Adding an elementwise optimizer is its kernel file here plus one case and one line below.
public enum LaneRule: Sendable {
    case adamW(AdamW)
    case sgd(SGD)
    case rmsProp(RMSProp)
    case adagrad(Adagrad)
    case adadelta(Adadelta)
    case adamax(Adamax)
    case nAdam(NAdam)
    case rAdam(RAdam)
    case asgd(ASGD)
    case rprop(Rprop)
    case lion(Lion)
    case scheduleFreeAdamW(ScheduleFreeAdamW)

    /// Updates `range` of `b`. Reached through `update` (StepKernels), which picks the copy.
    @inlinable @inline(__always)
    package func stream<Copy: CompiledCopy>(_ b: LaneBuffers, gradScale: Float, range: Range<Int>, _ copy: Copy.Type) -> UpdateStats {
        switch self {
        case .adamW(let k): k.stream(b, gradScale: gradScale, range: range, copy)
        case .sgd(let k): k.stream(b, gradScale: gradScale, range: range, copy)
        case .rmsProp(let k): k.stream(b, gradScale: gradScale, range: range, copy)
        case .adagrad(let k): k.stream(b, gradScale: gradScale, range: range, copy)
        case .adadelta(let k): k.stream(b, gradScale: gradScale, range: range, copy)
        case .adamax(let k): k.stream(b, gradScale: gradScale, range: range, copy)
        case .nAdam(let k): k.stream(b, gradScale: gradScale, range: range, copy)
        case .rAdam(let k): k.stream(b, gradScale: gradScale, range: range, copy)
        case .asgd(let k): k.stream(b, gradScale: gradScale, range: range, copy)
        case .rprop(let k): k.stream(b, gradScale: gradScale, range: range, copy)
        case .lion(let k): k.stream(b, gradScale: gradScale, range: range, copy)
        case .scheduleFreeAdamW(let k): k.stream(b, gradScale: gradScale, range: range, copy)
        }
    }
}
