import Foundation
import StepJSON
import StepKernels

/// torch.optim.NAdam, with its momentum decay and optional decoupled weight decay.
public enum NAdamOptimizer: LaneOptimizer {
    public struct Hyperparameters: OptimizerHyperparameters, Equatable {
        public var lr = 2e-3
        public var beta1 = 0.9, beta2 = 0.999
        public var eps = 1e-8
        public var weightDecay = 0.0
        public var momentumDecay = 4e-3
        public var decoupledWeightDecay = false
        public var maximize = false

        public mutating func read(_ r: inout JSONObjectReader) throws(JSONFieldError) {
            try r.readLR(&lr)
            try r.readBetas(&beta1, &beta2)
            try r.readEps(&eps)
            try r.readWeightDecay(&weightDecay)
            try r.read("momentum_decay", &momentumDecay, "a number >= 0") { $0 >= 0 }
            try r.read("decoupled_weight_decay", &decoupledWeightDecay)
            try r.read("maximize", &maximize)
        }

        public var json: JSONObject {
            JSONObject([("lr", .number(lr)), ("betas", JSONObject.pair(beta1, beta2)), ("eps", .number(eps)),
                        ("weight_decay", .number(weightDecay)), ("momentum_decay", .number(momentumDecay)),
                        ("decoupled_weight_decay", .bool(decoupledWeightDecay)), ("maximize", .bool(maximize))])
        }
    }

    public static let type = "nadam"
    public static let reference = "torch.optim.NAdam"
    public static let defaults = Hyperparameters()
    public static let stateTensors = [StateTensor<Hyperparameters>("exp_avg", map: .signed), StateTensor("exp_avg_sq", map: .unsigned)]
    /// The product of the momentum coefficients so far, a float32 0-dim tensor in torch.
    public static let scalars = [GroupScalar("mu_product", initial: 1)]

    static func momentumCoefficient(_ h: Hyperparameters, step: Int) -> Double {
        h.beta1 * (1 - 0.5 * pow(0.96, Double(step) * h.momentumDecay))
    }

    public static func rule(_ h: Hyperparameters, lr: Double, step: Int, scalars: inout [Double]) -> LaneRule {
        let mu = momentumCoefficient(h, step: step), muNext = momentumCoefficient(h, step: step + 1)
        // torch multiplies its float32 tensor by the Python float rounded to float32.
        scalars[0] = Double(Float(scalars[0]) * Float(mu))
        return .nAdam(NAdam(lr: lr, beta1: h.beta1, beta2: h.beta2, eps: h.eps, weightDecay: h.weightDecay,
                            decoupled: h.decoupledWeightDecay, mu: mu, muNext: muNext, muProduct: scalars[0], step: step))
    }
}
