// swift-tools-version:6.0
import PackageDescription

/// A standalone A/B harness for memory-access variants of the AdamW loop (not part of stepd's
/// build or CI). See main.swift for how to run it and what it measures.
let package = Package(name: "adamw-variants", targets: [
    .target(name: "CVariants"),
    .executableTarget(name: "adamw-variants", dependencies: ["CVariants"], path: "Sources/Variants",
                      swiftSettings: [.unsafeFlags(["-Ounchecked", "-target-cpu", "haswell"]), .swiftLanguageMode(.v5)]),
])
