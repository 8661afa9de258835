import StepJSON
import StepKernels

/// One optimizer's hyperparameters, typed, with torch's (or the reference's) argument names in
/// JSON. `read` applies the keys present in a config on top of `self`, validating each one and
/// naming the field when it refuses; unknown keys are left for the caller's `finish()`.
public protocol OptimizerHyperparameters: Sendable {
    var lr: Double { get }
    /// Ascend instead of descend: the session folds it into the gradient's scale.
    var maximize: Bool { get }
    mutating func read(_ r: inout JSONObjectReader) throws(JSONFieldError)
    /// Every field, in the order the reference documents them.
    var json: JSONObject { get }
}

extension OptimizerHyperparameters {
    public var maximize: Bool { false }
}

/// One optimizer state tensor: torch's state name (what a checkpoint calls it), when a
/// configuration needs it, the value it starts at, and the 8-bit map it is kept in under
/// `state_dtype: "q8"` (`.signed` for moments, `.unsigned` for state that is never negative,
/// as bitsandbytes' qmap1 and qmap2; nil where 8 bits would change the method, such as a copy
/// of the parameters). Its position in a descriptor's `stateTensors` is its slot in the
/// kernel's `LaneBuffers`.
public struct StateTensor<H: OptimizerHyperparameters>: Sendable {
    public let name: String
    let isUsed: @Sendable (H) -> Bool
    let initial: @Sendable (H) -> Float
    public let map: QuantizationMap?

    public init(_ name: String, usedWhen isUsed: @escaping @Sendable (H) -> Bool = { _ in true },
                initial: @escaping @Sendable (H) -> Float = { _ in 0 }, map: QuantizationMap? = nil) {
        self.name = name
        self.isUsed = isUsed
        self.initial = initial
        self.map = map
    }
}

/// A number an optimizer carries per parameter group from step to step (NAdam's product of
/// momentum coefficients, ASGD's eta and mu, schedule-free's weight sum). torch keeps these
/// per tensor, but they are equal across a group's tensors; a checkpoint stores them per group.
public struct GroupScalar: Sendable {
    public let name: String
    public let initial: Double
    public init(_ name: String, initial: Double) {
        self.name = name
        self.initial = initial
    }
}

/// Everything stepd knows about one optimizer, in one place: its name, typed hyperparameters
/// with defaults, its state tensors by torch's names, per-group scalars, derived parameter
/// views, and its update for one step as a lane kernel. `Optimizers.all` lists them.
public protocol OptimizerDescriptor: Sendable {
    associatedtype Hyperparameters: OptimizerHyperparameters
    /// The `"type"` of a config.
    static var type: String { get }
    /// What it reproduces ("torch.optim.AdamW"), for the README's table.
    static var reference: String { get }
    static var defaults: Hyperparameters { get }
    /// Every state tensor it can keep, in kernel slot order.
    static var stateTensors: [StateTensor<Hyperparameters>] { get }
    static var scalars: [GroupScalar] { get }
    /// Extra read-only views of the parameters, `GET .../params?view=NAME`.
    static var views: [String] { get }
    /// The `state_dtype`s its update can keep state in. By default every elementwise optimizer
    /// takes f32 and bf16, and q8 when every state tensor names a map; an optimizer whose update
    /// is not a lane kernel (works on whole tensors) keeps float32 and says so here.
    static var stateDTypes: [StateDType] { get }
    /// Whether it lands on the reference's float32 results bit for bit (it takes no square root,
    /// which torch does not round correctly, and performs the reference's operations in order).
    static var bitExact: Bool { get }
    /// The update of step `step` (1-based) at learning rate `lr`. `scalars` holds this group's
    /// carried scalars on entry and their values after the step on return.
    static func rule(_ h: Hyperparameters, lr: Double, step: Int, scalars: inout [Double]) -> LaneRule
    /// Fills `out` with view `name` of `range`: `step` is the number of steps taken, and
    /// `state(name)` finds a state buffer.
    static func view(_ name: String, _ h: Hyperparameters, step: Int, params: UnsafePointer<Float>,
                     state: (String) -> UnsafePointer<Float>?, range: Range<Int>, into out: UnsafeMutablePointer<Float>)
}

extension OptimizerDescriptor {
    public static var stateDTypes: [StateDType] {
        stateTensors.allSatisfy { $0.map != nil } ? [.f32, .bf16, .q8] : [.f32, .bf16]
    }
    /// The q8 map of each state tensor, in slot order (`.signed` where it has none).
    public static var slotMaps: [QuantizationMap] { stateTensors.map { $0.map ?? .signed } }
    public static var scalars: [GroupScalar] { [] }
    public static var views: [String] { [] }
    public static var bitExact: Bool { false }
    public static func view(_ name: String, _ h: Hyperparameters, step: Int, params: UnsafePointer<Float>,
                            state: (String) -> UnsafePointer<Float>?, range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        out.update(from: params + range.lowerBound, count: range.count)
    }
}

// The type-erased face the session engine uses: hyperparameters travel as
// `any OptimizerHyperparameters` and are opened back to the descriptor's own type here.
extension OptimizerDescriptor {
    static func hyper(_ h: any OptimizerHyperparameters) -> Hyperparameters { h as! Hyperparameters }

    /// Reads `r`'s keys on top of `base` (the defaults, or the optimizer's values for a group).
    static func read(_ r: inout JSONObjectReader, over base: any OptimizerHyperparameters) throws(JSONFieldError) -> any OptimizerHyperparameters {
        var h = hyper(base)
        try h.read(&r)
        return h
    }

    static func json(_ h: any OptimizerHyperparameters) -> JSONObject { hyper(h).json }

    /// State tensors some group needs, with their slots.
    public static func usedState(_ groups: [any OptimizerHyperparameters]) -> [(slot: Int, name: String)] {
        let hs = groups.map(hyper)
        return stateTensors.enumerated().compactMap { slot, t in hs.contains(where: t.isUsed) ? (slot, t.name) : nil }
    }

    public static func initialValue(of name: String, _ h: any OptimizerHyperparameters) -> Float {
        stateTensors.first { $0.name == name }.map { $0.initial(hyper(h)) } ?? 0
    }

    static func laneRule(_ h: any OptimizerHyperparameters, lr: Double, step: Int, scalars: inout [Double]) -> LaneRule {
        rule(hyper(h), lr: lr, step: step, scalars: &scalars)
    }

    static func fillView(_ name: String, _ h: any OptimizerHyperparameters, step: Int, params: UnsafePointer<Float>,
                         state: (String) -> UnsafePointer<Float>?, range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        view(name, hyper(h), step: step, params: params, state: state, range: range, into: out)
    }
}
