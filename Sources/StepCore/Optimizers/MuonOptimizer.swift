import StepJSON
import StepKernels

/// torch.optim.Muon: momentum orthogonalized by Newton-Schulz iterations (matrix products on
/// BLAS), for 2-D parameters only. The rest of a model (embeddings, biases, norms) goes in a
/// group of another `"type"`, usually AdamW.
public enum MuonOptimizer: OptimizerDescriptor {
    public struct Hyperparameters: OptimizerHyperparameters, Equatable {
        public var lr = 1e-3
        public var weightDecay = 0.1
        public var momentum = 0.95
        public var nesterov = true
        public var a = 3.4445, b = -4.775, c = 2.0315
        public var eps = 1e-7
        public var nsSteps = 5
        /// nil: torch's default (`"original"`), echoed as null.
        public var adjustLRFn: Muon.LRAdjustment? = nil

        public mutating func read(_ r: inout JSONObjectReader) throws(JSONFieldError) {
            try r.readLR(&lr)
            try r.readWeightDecay(&weightDecay)
            try r.read("momentum", &momentum, "a number >= 0") { $0 >= 0 }
            try r.read("nesterov", &nesterov)
            if let values = try r.array("ns_coefficients") {
                let field = r.field("ns_coefficients")
                guard values.count == 3 else { throw JSONFieldError(field: field, "expected [a, b, c], three numbers, got \(values.count) values") }
                var k: [Double] = []
                for (i, v) in values.enumerated() {
                    let x = try JSONObjectReader.number(v, field: field + "[\(i)]")
                    guard x.isFinite else { throw JSONFieldError(field: field + "[\(i)]", "must be a finite number, got \(x)") }
                    k.append(x)
                }
                (a, b, c) = (k[0], k[1], k[2])
            }
            try r.readEps(&eps)
            nsSteps = try r.integer("ns_steps", default: nsSteps, "an integer in 0...99") { (0...99).contains($0) }
            if let fn = try r.string("adjust_lr_fn") {
                guard let adjustment = Muon.LRAdjustment(rawValue: fn) else {
                    throw JSONFieldError(field: r.field("adjust_lr_fn"), "expected null, \"original\" or \"match_rms_adamw\", got \"\(fn.prefix(40))\"")
                }
                adjustLRFn = adjustment
            }
        }

        public var json: JSONObject {
            JSONObject([("lr", .number(lr)), ("weight_decay", .number(weightDecay)), ("momentum", .number(momentum)),
                        ("nesterov", .bool(nesterov)), ("ns_coefficients", [.number(a), .number(b), .number(c)]),
                        ("eps", .number(eps)), ("ns_steps", .number(Double(nsSteps))),
                        ("adjust_lr_fn", adjustLRFn.map { .string($0.rawValue) } ?? .null)])
        }
    }

    public static let type = "muon"
    public static let reference = "torch.optim.Muon"
    public static let defaults = Hyperparameters()
    public static let stateTensors = [StateTensor<Hyperparameters>("momentum_buffer")]
    public static let inexactBecause = "torch's Newton-Schulz runs in bfloat16, stepd's in float32: atol 5e-3"

    /// Also where OpenBLAS is loaded, on the first Muon tensor the server sees: a server that
    /// cannot load it refuses the session instead of failing its steps.
    public static func problem(shape: [Int]) -> String? {
        guard shape.count == 2 else {
            return "Muon takes 2-D tensors only; put the other tensors in a group of another \"type\" (e.g. adamw)"
        }
        do { try BLAS.load() } catch { return "this server cannot run Muon: \(error)" }
        return nil
    }

    public static func update(_ h: Hyperparameters, lr: Double, step: Int, scalars: inout [Double]) -> OptimizerUpdate {
        .tensor(.muon(Muon(lr: lr, momentum: h.momentum, nesterov: h.nesterov, weightDecay: h.weightDecay,
                           coefficients: (h.a, h.b, h.c), eps: h.eps, steps: h.nsSteps, adjustment: h.adjustLRFn ?? .original)))
    }
}
