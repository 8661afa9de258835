import StepKernels

/// The optimizer catalogue: every optimizer a config's `"type"` can name. Adding one is its
/// descriptor file (and its lane kernel) plus one entry here; the README's optimizer table is
/// checked against this list by a test.
public enum Optimizers {
    public static let all: [any OptimizerDescriptor.Type] = [
        AdamWOptimizer.self, AdamOptimizer.self, SGDOptimizer.self, RMSPropOptimizer.self, AdagradOptimizer.self,
        AdadeltaOptimizer.self, AdamaxOptimizer.self, NAdamOptimizer.self, RAdamOptimizer.self, ASGDOptimizer.self,
        RpropOptimizer.self, LionOptimizer.self, ScheduleFreeAdamWOptimizer.self,
    ]

    public static func named(_ type: String) -> (any OptimizerDescriptor.Type)? {
        all.first { $0.type == type }
    }

    public static var types: [String] { all.map { $0.type } }
}

extension Optimizers {
    /// The README's optimizer table (between its `optimizers` markers), made from the catalogue
    /// so the two cannot drift apart: `stepd optimizers` prints it, and a test compares.
    public static var markdownTable: String {
        var lines = [
            "| type | fields (defaults) | state B/param | state_dtype | views | reference | matches the reference |",
            "|---|---|---|---|---|---|---|",
        ]
        for kind in all {
            let fields = kind.json(kind.defaults).pairs.map { "`\($0.key)`=\($0.value.text)" }.joined(separator: ", ")
            let usual = kind.usedState([kind.defaults]).count * 4, most = kind.slotNames.count * 4
            let state = (usual == most ? "\(usual)" : "\(usual) (\(most) with every option)") + ": " + kind.slotNames.joined(separator: ", ")
            let views = kind.views.isEmpty ? "" : kind.views.map { "`\($0)`" }.joined(separator: ", ")
            let dtypes = kind.stateDTypes.map { "`\($0.rawValue)`" }.joined(separator: ", ")
            lines.append("| `\(kind.type)` | \(fields) | \(state) | \(dtypes) | \(views) | \(kind.reference) | \(kind.bitExact ? "bit for bit" : "within tolerance (square root)") |")
        }
        return lines.joined(separator: "\n")
    }
}
