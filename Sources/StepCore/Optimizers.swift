import StepKernels

/// The optimizer catalogue: every optimizer a config's `"type"` can name. Adding one is its
/// descriptor file (and its lane kernel) plus one entry here; the README's optimizer table is
/// checked against this list by a test.
public enum Optimizers {
    public static let all: [any OptimizerDescriptor.Type] = [
        AdamWOptimizer.self, AdamOptimizer.self, SGDOptimizer.self, RMSPropOptimizer.self, AdagradOptimizer.self,
        AdadeltaOptimizer.self, AdamaxOptimizer.self, NAdamOptimizer.self, RAdamOptimizer.self, ASGDOptimizer.self,
        RpropOptimizer.self, LionOptimizer.self, ScheduleFreeAdamWOptimizer.self, AdafactorOptimizer.self, LambOptimizer.self,
        MuonOptimizer.self,
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
            let views = kind.views.isEmpty ? "" : kind.views.map { "`\($0)`" }.joined(separator: ", ")
            let dtypes = kind.stateDTypes.map { "`\($0.rawValue)`" }.joined(separator: ", ")
            lines.append("| `\(kind.type)` | \(fields) | \(kind.stateSummary) | \(dtypes) | \(views) | \(kind.reference) | \(kind.bitExact ? "bit for bit" : "within tolerance (\(kind.inexactBecause))") |")
        }
        return lines.joined(separator: "\n")
    }
}

extension OptimizerDescriptor {
    /// The table's state column: bytes per parameter, and the names. State kept per row and
    /// column (Adafactor's) is next to nothing for a matrix, so it is described, not counted.
    static var stateSummary: String {
        let elementwise = stateTensors.allSatisfy(\.isElementwise)
        guard elementwise else {
            let matrix = slotNames.filter { stateShape($0, for: [7, 5]) != nil }, vector = slotNames.filter { stateShape($0, for: [7]) != nil }
            return "matrices (rank >= 2) ~0: \(matrix.joined(separator: ", ")) (per row and per column); vectors 4: \(vector.joined(separator: ", "))"
        }
        let usual = usedState([defaults]).count * 4, most = slotNames.count * 4
        return (usual == most ? "\(usual)" : "\(usual) (\(most) with every option)") + ": " + slotNames.joined(separator: ", ")
    }
}
