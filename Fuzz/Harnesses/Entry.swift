import StepHTTP
import StepHTTPTesting
import Foundation
import StepFuzzDriver

// The C functions Fuzz/Driver/driver.c calls. This module has no top-level code: the driver is
// the entry point (see Package.swift).

/// The harness named on the command line. Written once by `stepd_fuzz_select`, before libFuzzer
/// starts; libFuzzer then calls LLVMFuzzerTestOneInput and LLVMFuzzerCustomMutator on that one
/// thread, one input at a time, so this is never written while it is read. A `let` cannot be
/// set from the command line, hence `nonisolated(unsafe)` for this one variable.
nonisolated(unsafe) private var selected: Harness?

@_cdecl("stepd_fuzz_select")
func stepdFuzzSelect(_ name: UnsafePointer<CChar>) -> Int32 {
    guard let harness = Harness(rawValue: String(cString: name)) else {
        FileHandle.standardError.write(Data("stepd-fuzz: unknown harness \"\(String(cString: name))\"\n\n\(usage)".utf8))
        return 1
    }
    selected = harness
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
func stepdFuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let harness = selected else { fatalError("stepd-fuzz: no harness selected") }
    harness.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// libFuzzer uses this instead of its own mutations when it is defined. Only the checkpoint
/// harness has a structure-aware mutator; every other harness gets libFuzzer's default.
@_cdecl("LLVMFuzzerCustomMutator")
func stepdFuzzCustomMutator(_ data: UnsafeMutablePointer<UInt8>, _ size: Int, _ maxSize: Int, _ seed: UInt32) -> Int {
    if selected == .checkpoint {
        return CheckpointMutator.mutate(data, size: size, maxSize: maxSize, seed: seed)
    }
    return stepd_fuzz_default_mutate(data, size, maxSize)
}

let usage = """
    usage: stepd-fuzz <harness> [libFuzzer flags] [corpus dirs or files]
           stepd-fuzz seeds <dir>      (re)write the generated binary seeds under <dir>/<harness>/
           stepd-fuzz list             the harnesses

    Built with `-Xswiftc -sanitize=fuzzer,address` (scripts/fuzz) it fuzzes; a plain build runs each
    input file (or every file in a directory) through the harness once and exits 0 if none crashed.

    harnesses:
    \(Harness.allCases.map { "  \($0.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)) \($0.summary)" }.joined(separator: "\n"))

    """

/// Commands that do not fuzz. Returns the exit status, or -1 when argv[1] names no command.
@_cdecl("stepd_fuzz_tool")
func stepdFuzzTool(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    let args = (0..<Int(argc)).map { String(cString: argv[$0]!) }
    switch args.count > 1 ? args[1] : "help" {
    case "help", "-h", "--help", "-help":
        print(usage, terminator: "")
        return args.count > 1 ? 0 : 2
    case "list":
        for h in Harness.allCases { print(h.rawValue) }
        return 0
    case "seeds":
        guard args.count == 3 else {
            FileHandle.standardError.write(Data("usage: stepd-fuzz seeds <dir>\n".utf8))
            return 2
        }
        do {
            try SeedGenerator.write(to: args[2])
            return 0
        } catch {
            FileHandle.standardError.write(Data("stepd-fuzz seeds: \(error)\n".utf8))
            return 1
        }
    default:
        return -1
    }
}

/// Without libFuzzer: runs every file named (directories: every regular file in them, sorted)
/// through the selected harness once. Flags (arguments starting with "-") are ignored, so the
/// same command line works for both builds.
@_cdecl("stepd_fuzz_replay")
func stepdFuzzReplay(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    guard let harness = selected else { return 2 }
    let fm = FileManager.default
    var files: [String] = []
    for i in 0..<Int(argc) {
        let arg = String(cString: argv[i]!)
        if arg.hasPrefix("-") { continue }
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: arg, isDirectory: &isDir) else {
            FileHandle.standardError.write(Data("stepd-fuzz: no such file or directory: \(arg)\n".utf8))
            return 1
        }
        if isDir.boolValue {
            let names = ((try? fm.contentsOfDirectory(atPath: arg)) ?? []).sorted()
            for n in names where !n.hasPrefix(".") {
                var sub: ObjCBool = false
                let path = "\(arg)/\(n)"
                if fm.fileExists(atPath: path, isDirectory: &sub), !sub.boolValue { files.append(path) }
            }
        } else {
            files.append(arg)
        }
    }
    for path in files {
        print("stepd-fuzz \(harness.rawValue): running \(path)")
        guard let data = fm.contents(atPath: path) else {
            FileHandle.standardError.write(Data("stepd-fuzz: cannot read \(path)\n".utf8))
            return 1
        }
        data.withUnsafeBytes { harness.run($0) }
    }
    print("stepd-fuzz \(harness.rawValue): \(files.count) inputs ran without a crash (replay; this build has no libFuzzer)")
    return 0
}
