import StepJSON
import StepKernels

/// The fields of torch.optim.Adam and AdamW (they differ only in how weight decay is applied,
/// and in its default).
public struct AdamHyperparameters: OptimizerHyperparameters, Equatable {
    public var lr = 1e-3
    public var beta1 = 0.9, beta2 = 0.999
    public var eps = 1e-8
    public var weightDecay: Double
    public var amsgrad = false
    public var maximize = false

    public mutating func read(_ r: inout JSONObjectReader) throws(JSONFieldError) {
        try r.readLR(&lr)
        try r.readBetas(&beta1, &beta2)
        try r.readEps(&eps)
        try r.readWeightDecay(&weightDecay)
        try r.read("amsgrad", &amsgrad)
        try r.read("maximize", &maximize)
    }

    public var json: JSONObject {
        JSONObject([("lr", .number(lr)), ("betas", JSONObject.pair(beta1, beta2)), ("eps", .number(eps)),
                    ("weight_decay", .number(weightDecay)), ("amsgrad", .bool(amsgrad)), ("maximize", .bool(maximize))])
    }

    static let state: [StateTensor<AdamHyperparameters>] = [
        StateTensor("exp_avg", map: .signed), StateTensor("exp_avg_sq", map: .unsigned),
        StateTensor("max_exp_avg_sq", usedWhen: { $0.amsgrad }, map: .unsigned),
    ]
}

/// torch.optim.AdamW: decoupled weight decay.
public enum AdamWOptimizer: LaneOptimizer {
    public static let type = "adamw"
    public static let reference = "torch.optim.AdamW"
    public static let defaults = AdamHyperparameters(weightDecay: 1e-2)
    public static let stateTensors = AdamHyperparameters.state

    public static func rule(_ h: AdamHyperparameters, lr: Double, step: Int, scalars: inout [Double]) -> LaneRule {
        .adamW(AdamW(lr: lr, beta1: h.beta1, beta2: h.beta2, eps: h.eps, weightDecay: h.weightDecay,
                     decoupled: true, amsgrad: h.amsgrad, step: step))
    }
}

/// torch.optim.Adam: weight decay as L2, added to the gradient.
public enum AdamOptimizer: LaneOptimizer {
    public static let type = "adam"
    public static let reference = "torch.optim.Adam"
    public static let defaults = AdamHyperparameters(weightDecay: 0)
    public static let stateTensors = AdamHyperparameters.state

    public static func rule(_ h: AdamHyperparameters, lr: Double, step: Int, scalars: inout [Double]) -> LaneRule {
        .adamW(AdamW(lr: lr, beta1: h.beta1, beta2: h.beta2, eps: h.eps, weightDecay: h.weightDecay,
                     decoupled: false, amsgrad: h.amsgrad, step: step))
    }
}
