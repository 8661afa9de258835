import StepJSON
import StepKernels

/// torch.optim.Adafactor: a factored second moment (one number per row and per column of the
/// last two dimensions) for tensors of rank >= 2, a full one for vectors and scalars.
public enum AdafactorOptimizer: OptimizerDescriptor {
    public struct Hyperparameters: OptimizerHyperparameters, Equatable {
        public var lr = 1e-2
        public var beta2Decay = -0.8
        /// `eps1` nil: float32's machine epsilon, as torch.
        public var eps1: Double? = nil
        public var eps2 = 1e-3
        public var d = 1.0
        public var weightDecay = 0.0
        public var maximize = false

        public mutating func read(_ r: inout JSONObjectReader) throws(JSONFieldError) {
            try r.readLR(&lr)
            try r.read("beta2_decay", &beta2Decay, "a number <= 0") { $0 <= 0 }
            if let values = try r.array("eps") {
                let field = r.field("eps")
                guard values.count == 2 else {
                    throw JSONFieldError(field: field, "expected [eps1 or null, eps2], got \(values.count) values")
                }
                let e1 = values[0] == .null ? nil : try JSONObjectReader.number(values[0], field: field + "[0]")
                let e2 = try JSONObjectReader.number(values[1], field: field + "[1]")
                if let e1, !(e1 >= 0 && e1.isFinite) { throw JSONFieldError(field: field + "[0]", "must be null or a number >= 0, got \(e1)") }
                guard e2 >= 0, e2.isFinite else { throw JSONFieldError(field: field + "[1]", "must be a number >= 0, got \(e2)") }
                eps1 = e1
                eps2 = e2
            }
            try r.read("d", &d, "a number >= 1 (the update's rms clipping threshold)") { $0 >= 1 }
            try r.readWeightDecay(&weightDecay)
            try r.read("maximize", &maximize)
        }

        public var json: JSONObject {
            JSONObject([("lr", .number(lr)), ("beta2_decay", .number(beta2Decay)),
                        ("eps", [eps1.map { .number($0) } ?? .null, .number(eps2)]), ("d", .number(d)),
                        ("weight_decay", .number(weightDecay)), ("maximize", .bool(maximize))])
        }
    }

    public static let type = "adafactor"
    public static let reference = "torch.optim.Adafactor"
    public static let defaults = Hyperparameters()
    public static let stateTensors = [
        StateTensor<Hyperparameters>("row_var", shape: { $0.count >= 2 ? Array($0.dropLast()) + [1] : nil }),
        StateTensor("col_var", shape: { s in s.count >= 2 ? Array(s.dropLast(2)) + [1, s[s.count - 1]] : nil }),
        StateTensor("variance", shape: { $0.count < 2 ? $0 : nil }),
    ]

    public static func update(_ h: Hyperparameters, lr: Double, step: Int, scalars: inout [Double]) -> OptimizerUpdate {
        .tensor(.adafactor(Adafactor(lr: lr, beta2Decay: h.beta2Decay, eps1: h.eps1, eps2: h.eps2, d: h.d,
                                     weightDecay: h.weightDecay, step: step)))
    }
}
