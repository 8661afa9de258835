import StepKernels
/// A seeded SplitMix64 generator: every test input is reproducible from its seed.
struct TestRandom {
    private var source: SplitMix64

    init(seed: UInt64) { source = SplitMix64(seed: seed) }

    mutating func next() -> UInt64 { source.next() }

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
