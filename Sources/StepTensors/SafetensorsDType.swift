/// The element types a safetensors header may name, spelled as the format spells them. We write
/// only F32 (the session's storage type), but a checkpoint uploaded from torch may carry F16,
/// BF16 or an I64 step counter, and refusing a file must be for a reason, not for a dtype we
/// merely never wrote. Sub-byte types (F4, F6_*) are left out: their sizes are not whole bytes
/// per element, and nothing stepd stores uses them.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case bool = "BOOL"
    case u8 = "U8"
    case i8 = "I8"
    case f8e4m3 = "F8_E4M3"
    case f8e5m2 = "F8_E5M2"
    case f8e8m0 = "F8_E8M0"
    case i16 = "I16"
    case u16 = "U16"
    case f16 = "F16"
    case bf16 = "BF16"
    case i32 = "I32"
    case u32 = "U32"
    case f32 = "F32"
    case i64 = "I64"
    case u64 = "U64"
    case f64 = "F64"

    public var byteSize: Int {
        switch self {
        case .bool, .u8, .i8, .f8e4m3, .f8e5m2, .f8e8m0: 1
        case .i16, .u16, .f16, .bf16: 2
        case .i32, .u32, .f32: 4
        case .i64, .u64, .f64: 8
        }
    }
}
