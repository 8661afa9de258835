import StepJSON

/// The reading of the fields optimizers share, so each one is validated and worded the same way
/// in every optimizer: `lr >= 0`, `betas` two numbers in [0, 1), `eps > 0`, `weight_decay >= 0`.
extension JSONObjectReader {
    mutating func read(_ key: String, _ v: inout Double, _ what: String, _ ok: (Double) -> Bool) throws(JSONFieldError) {
        v = try number(key, default: v, what, ok)
    }

    mutating func read(_ key: String, _ v: inout Bool) throws(JSONFieldError) {
        v = try bool(key) ?? v
    }

    mutating func readLR(_ v: inout Double) throws(JSONFieldError) { try read("lr", &v, "a number >= 0") { $0 >= 0 } }
    mutating func readEps(_ v: inout Double) throws(JSONFieldError) { try read("eps", &v, "a number > 0") { $0 > 0 } }
    mutating func readWeightDecay(_ v: inout Double) throws(JSONFieldError) {
        try read("weight_decay", &v, "a number >= 0") { $0 >= 0 }
    }

    /// A two-number array such as `betas` or `etas`; `check` returns what is wrong with one
    /// element (by index), or nil.
    mutating func readPair(_ key: String, _ a: inout Double, _ b: inout Double, expected: String,
                           _ check: (Int, Double) -> String?) throws(JSONFieldError) {
        guard let values = try array(key) else { return }
        guard values.count == 2 else {
            throw JSONFieldError(field: field(key), "expected \(expected), got \(values.count) values")
        }
        let x = try JSONObjectReader.number(values[0], field: field(key) + "[0]")
        let y = try JSONObjectReader.number(values[1], field: field(key) + "[1]")
        for (i, v) in [x, y].enumerated() {
            if let problem = check(i, v) { throw JSONFieldError(field: field(key) + "[\(i)]", "\(problem), got \(v)") }
        }
        a = x
        b = y
    }

    mutating func readBetas(_ b1: inout Double, _ b2: inout Double) throws(JSONFieldError) {
        try readPair("betas", &b1, &b2, expected: "[beta1, beta2]") { _, b in b >= 0 && b < 1 ? nil : "must be in [0, 1)" }
    }
}

extension JSONObject {
    /// `betas` as written in a config.
    static func pair(_ a: Double, _ b: Double) -> JSONValue { [.number(a), .number(b)] }
}
