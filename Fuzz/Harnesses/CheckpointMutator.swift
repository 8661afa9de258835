import StepFuzzDriver
import StepKernels
import StepStore
import StepTensors

/// A structure-aware mutator for checkpoints. libFuzzer's byte mutations alone rarely get past a
/// checksum or keep the header's length prefix right, and the bugs that matter sit behind both,
/// in how restore trusts the metadata (numbers at the edges of Int and Double, shapes whose
/// product is huge). So three times in four this takes the file apart (`SafetensorsParts`),
/// changes one metadata value, and writes the file again, with a correct checksum when it had
/// one (or, sometimes, the checksum added or dropped). The rest of the time, or when the input
/// is no safetensors file, libFuzzer's own mutation runs, which exercises the framing and the
/// checksum check themselves.
enum CheckpointMutator {
    /// Numbers at the edges: Int and UInt64 limits and just past them, doubles that overflow an
    /// Int conversion, negatives, tiny and non-integral values, 2^20 and 2^40 (a 2^20 x 2^20
    /// shape is 4 TiB of f32), and a few that are not JSON numbers at all.
    static let edgeNumbers = [
        "0", "-0", "-1", "1", "2", "0.5", "1e300", "-1e300", "1e308", "1.7976931348623157e308", "1e-300", "5e-324",
        "9.3e18", "-9.3e18", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
        "-9223372036854775809", "18446744073709551615", "18446744073709551616", "4294967295", "4294967296",
        "65535", "65536", "65537", "1048576", "1048577", "1099511627776", "1e12", "999999999999", "1e400",
        "NaN", "Infinity", "-Infinity", "1048576,1048576", "[]", "null", "true", "\"1\"",
    ]

    static func mutate(_ data: UnsafeMutablePointer<UInt8>, size: Int, maxSize: Int, seed: UInt32) -> Int {
        var rng = SplitMix64(seed: UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 | 1)
        let bytes = Array(UnsafeBufferPointer(start: data, count: size))
        guard rng.next() % 4 != 0, var parts = SafetensorsParts(bytes) else {
            return stepd_fuzz_default_mutate(data, size, maxSize)
        }
        var checksum = parts.hasChecksum
        let keys = parts.metadata.keys.filter { $0 != SafetensorsChecksum.metadataKey }.sorted()
        let key = keys.isEmpty ? "format" : keys[Int(rng.next() % UInt64(keys.count))]
        let value = parts.metadata[key] ?? ""
        switch rng.next() % 10 {
        case 0:
            checksum.toggle()
        case 1, 2, 3, 4:
            parts.metadata[key] = replacingNumber(in: value, with: edgeNumbers[Int(rng.next() % UInt64(edgeNumbers.count))], rng: &rng)
        case 5, 6:
            parts.metadata[key] = libFuzzerMutated(value)
        case 7:
            parts.metadata[key] = edgeNumbers[Int(rng.next() % UInt64(edgeNumbers.count))]
        case 8:
            parts.metadata[key] = nil
        default:
            // Pending accumulation is restored only when its key is there: add one to files
            // without it, with numbers that the replacement above can then push to the edges.
            parts.metadata["accumulation"] = #"{"seen":[[0,1]],"losses":[0.5],"finite":true}"#
        }
        guard let out = parts.encoded(checksum: checksum), out.count <= maxSize else {
            return stepd_fuzz_default_mutate(data, size, maxSize)
        }
        out.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: out.count) }
        return out.count
    }

    /// Replaces one number in a JSON text (a run of digits, with sign, point and exponent) by
    /// `replacement`; appends it when the text has no number.
    static func replacingNumber(in text: String, with replacement: String, rng: inout SplitMix64) -> String {
        let u = Array(text.utf8)
        var runs: [Range<Int>] = []
        var i = 0
        while i < u.count {
            let startsNumber = isDigit(u[i]) || (u[i] == UInt8(ascii: "-") && i + 1 < u.count && isDigit(u[i + 1]))
            // Skip digits inside names ("w1", "exp_avg_sq2"): a number starts after a delimiter.
            let afterDelimiter = i == 0 || ":,[ ".utf8.contains(u[i - 1])
            if startsNumber && afterDelimiter {
                var j = i + 1
                while j < u.count, isDigit(u[j]) || "+-.eE".utf8.contains(u[j]) { j += 1 }
                runs.append(i..<j)
                i = j
            } else {
                i += 1
            }
        }
        guard !runs.isEmpty else { return text + replacement }
        let r = runs[Int(rng.next() % UInt64(runs.count))]
        return String(decoding: u[..<r.lowerBound] + Array(replacement.utf8) + u[r.upperBound...], as: UTF8.self)
    }

    static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    /// libFuzzer's byte mutations (and dictionary) applied to one metadata value.
    static func libFuzzerMutated(_ text: String) -> String {
        var buffer = Array(text.utf8)
        let capacity = buffer.count + 64
        buffer += [UInt8](repeating: 0, count: 64)
        let n = buffer.withUnsafeMutableBufferPointer { stepd_fuzz_default_mutate($0.baseAddress!, text.utf8.count, capacity) }
        return String(decoding: buffer[..<n], as: UTF8.self)
    }
}
