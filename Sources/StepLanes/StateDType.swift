/// How optimizer state is stored between steps. The update itself always runs in float32: a
/// kernel's loop widens a stretch of state to float32 lanes, runs the rule's formula unchanged,
/// and narrows the result as it stores it back, in the same pass.
///
/// - `f32`: float32, as torch keeps it.
/// - `bf16`: bfloat16 (the top half of a float32), rounded to nearest even after every update.
/// - `q8`: bitsandbytes' block-wise 8-bit state: a uint8 code per element into a 256-value
///   dynamic map (`QuantizationMap`), and one float32 absmax per block of 256 elements. A block
///   is dequantized (`map[code] * absmax`), updated, and requantized to the nearest code of
///   `value / new absmax`.
public enum StateDType: String, Sendable, CaseIterable {
    case f32, bf16, q8

    /// Bytes of state per element, not counting q8's absmax (4 bytes per block).
    public var elementBytes: Int {
        switch self {
        case .f32: 4
        case .bf16: 2
        case .q8: 1
        }
    }
}
