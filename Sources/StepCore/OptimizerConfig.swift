import StepJSON

/// The optimizer families stepd implements, named as in torch.optim (lowercase).
public enum OptimizerKind: String, Sendable, CaseIterable {
    case adamw, adam, sgd, rmsprop, adagrad

    /// Hyperparameters each family accepts, with torch.optim's defaults.
    var defaults: [(String, JSONValue)] {
        switch self {
        case .adamw: [("lr", 1e-3), ("betas", [0.9, 0.999]), ("eps", 1e-8), ("weight_decay", 1e-2), ("amsgrad", false), ("maximize", false)]
        case .adam: [("lr", 1e-3), ("betas", [0.9, 0.999]), ("eps", 1e-8), ("weight_decay", 0), ("amsgrad", false), ("maximize", false)]
        case .sgd: [("lr", 1e-3), ("momentum", 0), ("dampening", 0), ("weight_decay", 0), ("nesterov", false), ("maximize", false)]
        case .rmsprop: [("lr", 1e-2), ("alpha", 0.99), ("eps", 1e-8), ("weight_decay", 0), ("momentum", 0), ("centered", false), ("maximize", false)]
        case .adagrad: [("lr", 1e-2), ("lr_decay", 0), ("weight_decay", 0), ("initial_accumulator_value", 0), ("eps", 1e-10), ("maximize", false)]
        }
    }
}

/// One set of optimizer hyperparameters: the optimizer's own, or a group's after its overrides.
/// Every value is validated on the way in, so a bad `betas` is refused at create or PATCH time,
/// never discovered as NaNs a hundred steps later.
public struct Hyperparameters: Sendable, Equatable {
    public var lr = 1e-3
    public var beta1 = 0.9, beta2 = 0.999
    public var eps = 1e-8
    public var weightDecay = 0.0
    public var amsgrad = false
    public var maximize = false
    public var momentum = 0.0, dampening = 0.0
    public var nesterov = false
    public var alpha = 0.99
    public var centered = false
    public var lrDecay = 0.0
    public var initialAccumulatorValue = 0.0

    /// Reads the keys `kind` accepts from `r` on top of `self`; other keys are left for `finish()`.
    mutating func read(_ r: inout JSONObjectReader, kind: OptimizerKind) throws(JSONFieldError) {
        let keys = Set(kind.defaults.map(\.0))
        if keys.contains("lr") { lr = try r.number("lr", default: lr, "a number >= 0") { $0 >= 0 } }
        if keys.contains("betas"), let betas = try r.array("betas") {
            guard betas.count == 2 else {
                throw JSONFieldError(field: r.field("betas"), "expected [beta1, beta2], got \(betas.count) values")
            }
            let b1 = try JSONObjectReader.number(betas[0], field: r.field("betas") + "[0]")
            let b2 = try JSONObjectReader.number(betas[1], field: r.field("betas") + "[1]")
            for (i, b) in [b1, b2].enumerated() where !(b >= 0 && b < 1) {
                throw JSONFieldError(field: r.field("betas") + "[\(i)]", "must be in [0, 1), got \(b)")
            }
            beta1 = b1
            beta2 = b2
        }
        if keys.contains("eps") { eps = try r.number("eps", default: eps, "a number > 0") { $0 > 0 } }
        if keys.contains("weight_decay") { weightDecay = try r.number("weight_decay", default: weightDecay, "a number >= 0") { $0 >= 0 } }
        if keys.contains("amsgrad") { amsgrad = try r.bool("amsgrad") ?? amsgrad }
        if keys.contains("maximize") { maximize = try r.bool("maximize") ?? maximize }
        if keys.contains("momentum") { momentum = try r.number("momentum", default: momentum, "a number >= 0") { $0 >= 0 } }
        if keys.contains("dampening") { dampening = try r.number("dampening", default: dampening, "a number in [0, 1]") { $0 >= 0 && $0 <= 1 } }
        if keys.contains("nesterov") { nesterov = try r.bool("nesterov") ?? nesterov }
        if keys.contains("alpha") { alpha = try r.number("alpha", default: alpha, "a number in [0, 1]") { $0 >= 0 && $0 <= 1 } }
        if keys.contains("centered") { centered = try r.bool("centered") ?? centered }
        if keys.contains("lr_decay") { lrDecay = try r.number("lr_decay", default: lrDecay, "a number >= 0") { $0 >= 0 } }
        if keys.contains("initial_accumulator_value") {
            initialAccumulatorValue = try r.number("initial_accumulator_value", default: initialAccumulatorValue, "a number >= 0") { $0 >= 0 }
        }
        if kind == .sgd, nesterov, momentum <= 0 || dampening != 0 {
            throw JSONFieldError(field: r.field("nesterov"), "Nesterov momentum requires momentum > 0 and dampening = 0 (got momentum \(momentum), dampening \(dampening))")
        }
    }

    /// The values `kind` uses, as they would be written in a config.
    func json(kind: OptimizerKind) -> JSONObject {
        var o = JSONObject()
        for (key, _) in kind.defaults {
            switch key {
            case "lr": o[key] = .number(lr)
            case "betas": o[key] = [.number(beta1), .number(beta2)]
            case "eps": o[key] = .number(eps)
            case "weight_decay": o[key] = .number(weightDecay)
            case "amsgrad": o[key] = .bool(amsgrad)
            case "maximize": o[key] = .bool(maximize)
            case "momentum": o[key] = .number(momentum)
            case "dampening": o[key] = .number(dampening)
            case "nesterov": o[key] = .bool(nesterov)
            case "alpha": o[key] = .number(alpha)
            case "centered": o[key] = .bool(centered)
            case "lr_decay": o[key] = .number(lrDecay)
            case "initial_accumulator_value": o[key] = .number(initialAccumulatorValue)
            default: break
            }
        }
        return o
    }
}

/// `"optimizer": {"type": "adamw", "lr": ..., ...}`
public struct OptimizerConfig: Sendable, Equatable {
    public var kind: OptimizerKind
    public var hyper: Hyperparameters

    public init(kind: OptimizerKind, hyper: Hyperparameters) {
        self.kind = kind
        self.hyper = hyper
    }

    public static func parse(_ value: JSONValue?, path: String) throws(JSONFieldError) -> OptimizerConfig {
        guard let value else { throw JSONFieldError(field: path, "is required (an object with \"type\")") }
        var r = try JSONObjectReader(value, path: path)
        guard let type = try r.string("type") else {
            throw JSONFieldError(field: r.field("type"), "is required; expected one of \(OptimizerKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let kind = OptimizerKind(rawValue: type) else {
            throw JSONFieldError(field: r.field("type"), "unknown optimizer \"\(type)\"; expected one of \(OptimizerKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var hyper = Hyperparameters()
        var defaults = try JSONObjectReader(.object(JSONObject(kind.defaults)), path: path)
        try hyper.read(&defaults, kind: kind)
        try hyper.read(&r, kind: kind)
        try r.finish()
        return OptimizerConfig(kind: kind, hyper: hyper)
    }

    public var json: JSONValue {
        var o = JSONObject([("type", .string(kind.rawValue))])
        for (k, v) in hyper.json(kind: kind).pairs { o[k] = v }
        return .object(o)
    }
}
