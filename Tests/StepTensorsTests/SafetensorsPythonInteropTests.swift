import Foundation
import Testing
@testable import StepTensors
import StepTensorsTesting
#if canImport(Glibc)
import Glibc
#endif

/// Both directions against the reference implementation, Python's `safetensors` package (which
/// wraps the Rust crate): the checkpoint download must load there, and files saved there must
/// load here. A Swift test rather than a pytest file, so it runs with `swift test` and needs no
/// separate harness; it runs `$STEPD_PYTHON` (default `python3`). If that interpreter cannot
/// `import safetensors, numpy` the test FAILS with instructions rather than silently passing;
/// set STEPD_SKIP_PYTHON_INTEROP=1 to skip it on a machine without them.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["STEPD_SKIP_PYTHON_INTEROP"] != "1"))
struct SafetensorsPythonInteropTests {
    static var python: String { ProcessInfo.processInfo.environment["STEPD_PYTHON"] ?? "python3" }

    /// Runs `python -c script args...`; returns (exit status, stdout + stderr).
    func runPython(_ script: String, _ args: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [Self.python, "-c", script] + args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: out, as: UTF8.self))
    }

    func requireSafetensors() throws -> Bool {
        let (status, out) = try runPython("import safetensors, numpy; print(safetensors.__version__)", [])
        if status != 0 {
            Issue.record("""
                Python interop needs `\(Self.python)` with safetensors and numpy (`pip install safetensors numpy`; \
                point STEPD_PYTHON at that interpreter, or set STEPD_SKIP_PYTHON_INTEROP=1 to skip): \(out)
                """)
            return false
        }
        return true
    }

    static let readScript = #"""
import sys, json, numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file
path = sys.argv[1]
t = load_file(path)
with safe_open(path, framework="np") as f:
    meta = f.metadata()
    keys = list(f.keys())
w = t["layer.0.weight"]
assert w.dtype == np.float32 and w.shape == (3, 4), (w.dtype, w.shape)
assert np.array_equal(w.ravel(), np.arange(12, dtype=np.float32) * np.float32(0.25)), w
assert t["scalar"].shape == () and t["scalar"] == np.float32(-1.5), t["scalar"]
assert t["empty"].shape == (0, 5), t["empty"].shape
big = t["big"]
assert big.shape == (300000,) and big[0] == 0 and big[-1] == np.float32(299999), big[-3:]
assert meta["step"] == "17" and meta["config"] == '{"lr":0.001}', meta
# The checksum rule, re-implemented independently: CRC-32C of the file with the digits zeroed.
raw = bytearray(open(path, "rb").read())
needle = b'"checksum":"crc32c:'
i = raw.index(needle) + len(needle)
stored = int(raw[i:i + 8], 16)
raw[i:i + 8] = b"00000000"
table = []
for n in range(256):
    c = n
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    table.append(c)
crc = 0xFFFFFFFF
for b in bytes(raw):
    crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
crc ^= 0xFFFFFFFF
assert crc == stored, (hex(crc), hex(stored))
print("ok", sorted(keys))
"""#

    @Test func filesWeWriteLoadInPythonAndPassItsChecksumCheck() throws {
        guard try requireSafetensors() else { return }
        try withTemporaryDirectory { dir in
            let path = "\(dir)/out.safetensors"
            let big = (0..<300_000).map(Float.init)
            try withWriter([
                ("layer.0.weight", .f32, [3, 4], floatBytes((0..<12).map { Float($0) * 0.25 })),
                ("scalar", .f32, [], floatBytes([-1.5])),
                ("empty", .f32, [0, 5], []),
                ("big", .f32, [300_000], floatBytes(big)),
            ], metadata: ["step": "17", "config": "{\"lr\":0.001}"]) { writer in
                let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
                #expect(fd >= 0)
                defer { close(fd) }
                try writer.write(to: OutputFile(descriptor: fd, path: path))
            }
            let (status, out) = try runPython(Self.readScript, [path])
            #expect(status == 0, "python could not load our file:\n\(out)")
        }
    }

    static let writeScript = #"""
import sys, numpy as np
from safetensors.numpy import save_file
save_file({
    "f32": np.arange(6, dtype=np.float32).reshape(2, 3) / 3,
    "f16": np.array([1.0, -2.5, 65504.0], dtype=np.float16),
    "f64": np.array([np.pi], dtype=np.float64),
    "i64": np.array([7, -1], dtype=np.int64),
    "i32": np.array([3], dtype=np.int32),
    "u8": np.array([0, 255, 9], dtype=np.uint8),
    "scalar": np.array(2.5, dtype=np.float32),
    "empty": np.zeros((0, 3), dtype=np.float32),
}, sys.argv[1], metadata={"format": "pt", "note": "from python"})
"""#

    @Test func filesPythonWritesLoadHere() throws {
        guard try requireSafetensors() else { return }
        try withTemporaryDirectory { dir in
            let path = "\(dir)/py.safetensors"
            let (status, out) = try runPython(Self.writeScript, [path])
            try #require(status == 0, "python failed to write:\n\(out)")
            for access in [SafetensorsFile.Access.mapped, .read] {
                let f = try SafetensorsFile(path: path, access: access)
                #expect(f.metadata == ["format": "pt", "note": "from python"])
                #expect(Set(f.tensors.map(\.name)) == ["f32", "f16", "f64", "i64", "i32", "u8", "scalar", "empty"])
                #expect(try f.floats("f32") == (0..<6).map { Float($0) / 3 })
                #expect(f.tensor(named: "f32")?.shape == [2, 3])
                #expect(try f.floats("scalar") == [2.5])
                #expect(f.tensor(named: "scalar")?.shape == [])
                #expect(f.tensor(named: "empty")?.shape == [0, 3] && f.tensor(named: "empty")?.byteCount == 0)
                let f16 = try #require(f.tensor(named: "f16"))
                #expect(f16.dtype == .f16)
                #expect(try f.withUnsafeBytes(of: f16) { Array($0.bindMemory(to: UInt16.self)) } == [0x3C00, 0xC100, 0x7BFF])
                let i64 = try #require(f.tensor(named: "i64"))
                #expect(try f.withUnsafeBytes(of: i64) { Array($0.bindMemory(to: Int64.self)) } == [7, -1])
                let f64 = try #require(f.tensor(named: "f64"))
                #expect(try f.withUnsafeBytes(of: f64) { Array($0.bindMemory(to: Double.self)) } == [.pi])
                let u8 = try #require(f.tensor(named: "u8"))
                #expect(try f.withUnsafeBytes(of: u8) { Array($0) } == [0, 255, 9])
                #expect(f.tensor(named: "i32")?.dtype == .i32)
                #expect(throws: SafetensorsError.checksumMissing) { try f.verifyChecksum() }
            }
        }
    }
}
