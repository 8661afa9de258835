import StepKernels

/// The optimizer state buffers a session carries, by torch's state_dict names, so a checkpoint
/// maps one to one onto `optimizer.state_dict()["state"][i]`.
public enum StateRole: String, Sendable, CaseIterable {
    case expAvg = "exp_avg", expAvgSq = "exp_avg_sq", maxExpAvgSq = "max_exp_avg_sq"
    case momentumBuffer = "momentum_buffer", squareAvg = "square_avg", gradAvg = "grad_avg", sum = "sum"

    /// The roles `config` needs (a role is allocated if any group uses it), and each one's
    /// starting value.
    static func roles(for config: SessionConfig) -> [(StateRole, Float)] {
        let hs = config.groups.map(\.hyper)
        switch config.optimizer.kind {
        case .adamw, .adam:
            return [(.expAvg, 0), (.expAvgSq, 0)] + (hs.contains { $0.amsgrad } ? [(.maxExpAvgSq, 0)] : [])
        case .sgd:
            return hs.contains { $0.momentum != 0 } ? [(.momentumBuffer, 0)] : []
        case .rmsprop:
            return [(.squareAvg, 0)] + (hs.contains { $0.momentum > 0 } ? [(.momentumBuffer, 0)] : [])
                + (hs.contains { $0.centered } ? [(.gradAvg, 0)] : [])
        case .adagrad:
            // Adagrad's accumulator starts at each group's initial value; see `initialValues`.
            return [(.sum, 0)]
        }
    }
}

/// One group's update for one step: the kernel with its scalars resolved from hyperparameters,
/// learning rate and step number. This is the only place that maps configs onto kernels.
enum UpdateRule {
    case adam(AdamW)
    case sgd(SGD)
    case rmsprop(RMSProp)
    case adagrad(Adagrad)

    init(kind: OptimizerKind, hyper h: Hyperparameters, lr: Double, step: Int) {
        switch kind {
        case .adamw, .adam:
            self = .adam(AdamW(lr: lr, beta1: h.beta1, beta2: h.beta2, eps: h.eps, weightDecay: h.weightDecay,
                               decoupled: kind == .adamw, amsgrad: h.amsgrad, step: step))
        case .sgd:
            self = .sgd(SGD(lr: lr, momentum: h.momentum, dampening: h.dampening, weightDecay: h.weightDecay,
                            nesterov: h.nesterov, step: step))
        case .rmsprop:
            self = .rmsprop(RMSProp(lr: lr, alpha: h.alpha, eps: h.eps, weightDecay: h.weightDecay,
                                    momentum: h.momentum, centered: h.centered))
        case .adagrad:
            self = .adagrad(Adagrad(lr: lr, lrDecay: h.lrDecay, eps: h.eps, weightDecay: h.weightDecay, step: step))
        }
    }

    func update(_ s: OptimizerState, grads: UnsafePointer<Float>, gradScale: Float, range: Range<Int>) -> UpdateStats {
        let p = s.params.pointer
        switch self {
        case .adam(let k):
            return k.update(params: p, grads: grads, expAvg: s[.expAvg]!, expAvgSq: s[.expAvgSq]!,
                            maxExpAvgSq: s[.maxExpAvgSq], gradScale: gradScale, range: range)
        case .sgd(let k):
            return k.update(params: p, grads: grads, momentumBuffer: s[.momentumBuffer], gradScale: gradScale, range: range)
        case .rmsprop(let k):
            return k.update(params: p, grads: grads, squareAvg: s[.squareAvg]!, gradAvg: s[.gradAvg],
                            momentumBuffer: s[.momentumBuffer], gradScale: gradScale, range: range)
        case .adagrad(let k):
            return k.update(params: p, grads: grads, sum: s[.sum]!, gradScale: gradScale, range: range)
        }
    }
}
