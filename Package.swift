// swift-tools-version:6.0
import PackageDescription

/// The kernels' loops (StepLanes) are compiled three times: portably into StepKernels, for
/// x86-64-v3 into StepKernelsAVX2, and for x86-64-v4 with AVX512-BF16 into StepKernelsAVX512;
/// StepKernels picks one at run time (InstructionSet). swiftc refuses `-target-cpu x86-64-v3`;
/// haswell is the same feature level, and cooperlake is x86-64-v4 plus VNNI and BF16.
#if arch(x86_64)
let avx2Flags = ["-target-cpu", "haswell"]
let avx512Flags = ["-target-cpu", "cooperlake"]
#else
let avx2Flags: [String] = []
let avx512Flags: [String] = []
#endif
/// Bounds checks off in the kernels' release builds: their loops index raw pointers only. Debug
/// builds optimise the kernels too: unoptimised SIMD8 loops are 50-100x slower (the kernel tests
/// took minutes, and under the sanitizers far longer), and without inlining the AVX2 module
/// would only call the portable loops, so the test that compares the two copies would compare
/// one copy with itself.
let kernelSettings: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
    .unsafeFlags(["-O"], .when(configuration: .debug)),
]

/// Layers as in DESIGN.md; dependencies only point down.
let package = Package(
    name: "stepd",
    products: [
        .executable(name: "stepd", targets: ["stepd"]),
        .executable(name: "stepd-fuzz", targets: ["stepd-fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // SHA-256 of API keys (the keys file stores only their hashes).
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd",
                       providers: [.apt(["libmicrohttpd-dev"])]),
        .systemLibrary(name: "CJansson", pkgConfig: "jansson",
                       providers: [.apt(["libjansson-dev"])]),
        // Newton-Schulz's matrix products (Muon): OpenBLAS, loaded on first use (dlopen), its
        // threads set by StepKernels' BLAS.
        .target(name: "CBLAS", linkerSettings: [.linkedLibrary("dl")]),
        .target(name: "CStepIntrinsics"),
        .target(name: "StepJSON", dependencies: ["CJansson"]),
        .target(name: "StepLanes", dependencies: ["CStepIntrinsics"], swiftSettings: kernelSettings),
        .target(name: "StepKernelsAVX2", dependencies: ["StepLanes"],
                swiftSettings: kernelSettings + [.unsafeFlags(avx2Flags)]),
        .target(name: "StepKernelsAVX512", dependencies: ["StepLanes"],
                swiftSettings: kernelSettings + [.unsafeFlags(avx512Flags)]),
        .target(name: "StepKernels", dependencies: ["StepLanes", "StepKernelsAVX2", "StepKernelsAVX512", "CStepIntrinsics", "CBLAS"],
                swiftSettings: kernelSettings),
        .target(name: "StepCore", dependencies: ["StepKernels", "StepJSON"]),
        .target(name: "StepConformance", dependencies: ["StepCore", "StepKernels", "StepJSON"]),
        // The safetensors codec (streaming read and write, CRC-32C); no sessions, no snapshots.
        .target(name: "StepTensors", dependencies: ["StepJSON", "CStepIntrinsics"]),
        // A minimal HTTP/1.1 client over a loopback socket (no domain types): the HTTP
        // benchmark's and the socket conformance layer's.
        .target(name: "StepHTTPClient"),
        .target(name: "StepStore", dependencies: ["StepCore", "StepTensors", "StepJSON"]),
        // HTTP over libmicrohttpd with no domain types: heads, bodies, responses, the router,
        // problem+json, limits, TLS, metrics text. The application builds on it.
        .target(name: "StepHTTP", dependencies: [
            "StepJSON", "CMicroHTTPD",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        // The dashboard's HTML, scripts and vendored charting library (web/), compiled into the
        // binary with C23's #embed; StepDashboard serves them.
        .target(name: "StepDashboardFiles", exclude: ["web"], cSettings: [.unsafeFlags(["-std=c23"])]),
        // The dashboard's routes (`/`, `/sessions/{id}`, `/compare`, `/assets/...`): static files
        // with content types and ETags, no domain types; the pages read the JSON API.
        .target(name: "StepDashboard", dependencies: ["StepHTTP", "StepDashboardFiles"]),
        // In-process requests (Router.handle, heads from target strings, whole answers): for
        // tests, fuzzing and `stepd conformance`'s in-process layer, never the server.
        .target(name: "StepHTTPTesting", dependencies: ["StepHTTP", "StepJSON", .product(name: "HTTPTypes", package: "swift-http-types")]),
        // The application: sessions, steps, params, checkpoints, snapshots, tenants, the dashboard.
        .target(name: "StepServer", dependencies: [
            "StepHTTP", "StepDashboard", "StepCore", "StepStore", "StepTensors", "StepJSON",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // Conformance replayed through the HTTP API: in-process through the router, and over a
        // socket to a real server, in JSON and binary bodies.
        .target(name: "StepConformanceHTTP", dependencies: [
            "StepConformance", "StepServer", "StepHTTP", "StepHTTPTesting", "StepHTTPClient", "StepJSON", "StepKernels", "StepTensors",
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        .executableTarget(name: "stepd", dependencies: [
            "StepServer", "StepHTTP", "StepStore", "StepTensors", "StepCore", "StepConformance", "StepConformanceHTTP", "StepHTTPClient", "StepKernels",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], linkerSettings: [
            // Relative relocations packed (DT_RELR, glibc 2.36+; lld, as gold lacks it): the
            // dynamic loader reads a few KB instead of a 2 MB relocation table, which otherwise
            // stays resident in every process. The binary stays position-independent (ASLR).
            .unsafeFlags(["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"], .when(platforms: [.linux])),
        ]),
        // libFuzzer harnesses (Fuzz/README.md, scripts/fuzz). Built with
        // `-Xswiftc -sanitize=fuzzer,address` they fuzz; a plain build replays inputs once each.
        // The C driver supplies the executable's entry point (`stepd_fuzz_main`) and calls
        // libFuzzer's LLVMFuzzerRunDriver, which SwiftPM's `--defsym main=...` linking needs.
        .target(name: "StepFuzzDriver", path: "Fuzz/Driver"),
        .executableTarget(name: "stepd-fuzz", dependencies: [
            "StepFuzzDriver", "StepServer", "StepHTTP", "StepHTTPTesting", "StepStore", "StepTensors", "StepCore", "StepJSON", "StepKernels",
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ], path: "Fuzz/Harnesses"),
        // Test-only: the conformance cases' location and what every layer's tests check about
        // them besides passing (which cases may be "not yet", and that their reason is real).
        .target(name: "StepConformanceTesting", dependencies: ["StepConformance", "StepCore", "StepJSON", "StepKernels"],
                path: "Tests/StepConformanceTesting"),
        .testTarget(name: "StepKernelsTests", dependencies: ["StepKernels", "StepLanes"]),
        .testTarget(name: "StepJSONTests", dependencies: ["StepJSON"]),
        .testTarget(name: "StepCoreTests", dependencies: ["StepCore", "StepConformance", "StepConformanceTesting", "StepJSON", "StepKernels"]),
        // Test helpers (temporary directories, hand-built files) for the codec's and the store's tests.
        .target(name: "StepTensorsTesting", dependencies: ["StepTensors"], path: "Tests/StepTensorsTesting"),
        .testTarget(name: "StepTensorsTests", dependencies: ["StepTensors", "StepTensorsTesting"]),
        .testTarget(name: "StepStoreTests", dependencies: ["StepStore", "StepTensors", "StepTensorsTesting", "StepCore", "StepKernels"]),
        .testTarget(name: "StepHTTPTests", dependencies: [
            "StepHTTP", "StepHTTPTesting", "StepJSON", .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        .testTarget(name: "StepServerTests", dependencies: [
            "StepServer", "StepDashboard", "StepHTTP", "StepHTTPTesting", "StepStore", "StepTensors", "StepCore", "StepKernels", "StepJSON", "StepConformance",
            "StepConformanceHTTP", "StepConformanceTesting", .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
