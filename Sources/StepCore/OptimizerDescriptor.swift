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
/// configuration needs it, the value it starts at, its shape for a parameter of a given shape
/// (the parameter's own, unless it is kept per row or column, as Adafactor's; nil where a
/// parameter of that shape does not keep it), and the 8-bit map it is kept in under
/// `state_dtype: "q8"` (`.signed` for moments, `.unsigned` for state that is never negative,
/// as bitsandbytes' qmap1 and qmap2; nil where 8 bits would change the method, such as a copy
/// of the parameters). Its position in a descriptor's `stateTensors` is its slot in the
/// kernel's `LaneBuffers` (or a tensor rule's `TensorBuffers`).
public struct StateTensor<H: OptimizerHyperparameters>: Sendable {
    public let name: String
    let isUsed: @Sendable (H) -> Bool
    let initial: @Sendable (H) -> Float
    let shape: @Sendable ([Int]) -> [Int]?
    public let map: QuantizationMap?

    public init(_ name: String, usedWhen isUsed: @escaping @Sendable (H) -> Bool = { _ in true },
                initial: @escaping @Sendable (H) -> Float = { _ in 0 },
                shape: @escaping @Sendable ([Int]) -> [Int]? = { $0 }, map: QuantizationMap? = nil) {
        self.name = name
        self.isUsed = isUsed
        self.initial = initial
        self.shape = shape
        self.map = map
    }

    /// Whether it holds one number per parameter element.
    var isElementwise: Bool { shape([3, 5]) == [3, 5] && shape([4]) == [4] }
}

/// A descriptor's update for one step of one group: an elementwise rule streamed over the
/// group's tensors in fixed chunks, or a rule applied to each of its tensors whole.
public enum OptimizerUpdate: Sendable {
    case lanes(LaneRule)
    case tensor(TensorRule)
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
    /// The `state_dtype`s its update can keep state in: a lane optimizer's loop widens and
    /// narrows any of them (q8 when every state tensor names a map); a tensor rule reads its
    /// state as float32 arrays, so it keeps f32 only.
    static var stateDTypes: [StateDType] { get }
    /// Whether it lands on the reference's float32 results bit for bit (it takes no square root,
    /// which torch does not round correctly, and performs the reference's operations in order).
    static var bitExact: Bool { get }
    /// Why it is not bit for bit, for the README's table (when `bitExact` is false).
    static var inexactBecause: String { get }
    /// The update of step `step` (1-based) at learning rate `lr`. `scalars` holds this group's
    /// carried scalars on entry and their values after the step on return.
    static func update(_ h: Hyperparameters, lr: Double, step: Int, scalars: inout [Double]) -> OptimizerUpdate
    /// What is wrong with a parameter of `shape` for this optimizer (Muon takes matrices only),
    /// or nil.
    static func problem(shape: [Int]) -> String?
    /// Fills `out` with view `name` of elements `range` of one tensor: `params` and the pointers
    /// `state(name)` returns start at that tensor's first element, and `step` is the number of
    /// steps taken.
    static func view(_ name: String, _ h: Hyperparameters, step: Int, params: UnsafePointer<Float>,
                     state: (String) -> UnsafePointer<Float>?, range: Range<Int>, into out: UnsafeMutablePointer<Float>)
}

/// An optimizer whose update is elementwise: one `LaneRule` per group and step.
public protocol LaneOptimizer: OptimizerDescriptor {
    static func rule(_ h: Hyperparameters, lr: Double, step: Int, scalars: inout [Double]) -> LaneRule
}

extension LaneOptimizer {
    /// f32 and bf16, and q8 when every state tensor names a map.
    public static var stateDTypes: [StateDType] {
        stateTensors.allSatisfy { $0.map != nil } ? [.f32, .bf16, .q8] : [.f32, .bf16]
    }

    public static func update(_ h: Hyperparameters, lr: Double, step: Int, scalars: inout [Double]) -> OptimizerUpdate {
        .lanes(rule(h, lr: lr, step: step, scalars: &scalars))
    }
}

extension OptimizerDescriptor {
    public static var stateDTypes: [StateDType] { [.f32] }
    public static func problem(shape: [Int]) -> String? { nil }
    public static var scalars: [GroupScalar] { [] }
    public static var views: [String] { [] }
    public static var bitExact: Bool { false }
    public static var inexactBecause: String { "square root" }
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

    static func update(_ h: any OptimizerHyperparameters, lr: Double, step: Int, scalars: inout [Double]) -> OptimizerUpdate {
        update(hyper(h), lr: lr, step: step, scalars: &scalars)
    }

    /// The shape of state `name` for a parameter of `shape`, nil if such a parameter does not
    /// keep it (or the optimizer has no such state).
    public static func stateShape(_ name: String, for shape: [Int]) -> [Int]? {
        stateTensors.first { $0.name == name }.flatMap { $0.shape(shape) }
    }

    static func fillView(_ name: String, _ h: any OptimizerHyperparameters, step: Int, params: UnsafePointer<Float>,
                         state: (String) -> UnsafePointer<Float>?, range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        view(name, hyper(h), step: step, params: params, state: state, range: range, into: out)
    }
}
