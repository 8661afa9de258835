/// A seeded SplitMix64 generator: every test input is reproducible from its seed.
struct TestRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    mutating func uniform(_ lo: Float, _ hi: Float) -> Float {
        lo + (hi - lo) * Float(next() >> 40) * 0x1p-24
    }

    /// `count` values uniform in [-scale, scale).
    static func values(count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var r = TestRandom(seed: seed)
        return (0..<count).map { _ in r.uniform(-scale, scale) }
    }
}
