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
