/// The bytes an AdamW step must move and nothing else: read g, p, m, v; write p, m, v. The
/// kernel benchmark's yardstick for memory bandwidth. It lives with the kernels so it is compiled
/// the same ways: a yardstick built for narrower instructions than the kernel it measures
/// understates the bandwidth (the portable copy reached 22 GB/s on one core where torch moved 28).
@usableFromInline package enum MemoryTraffic {
    @inlinable @inline(__always)
    package static func readFourWriteThree<Copy: CompiledCopy>(_ g: UnsafePointer<Float>, _ p: UnsafeMutablePointer<Float>,
                                                               _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>,
                                                               _ r: Range<Int>, _ copy: Copy.Type) {
        let G = UnsafeRawPointer(g), P = UnsafeMutableRawPointer(p), M = UnsafeMutableRawPointer(m), V = UnsafeMutableRawPointer(v)
        var i = r.lowerBound
        while i + 8 <= r.upperBound {
            let o = i * 4
            let gv = G.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
            P.storeBytes(of: P.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self) + gv, toByteOffset: o, as: SIMD8<Float>.self)
            M.storeBytes(of: M.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self) + gv, toByteOffset: o, as: SIMD8<Float>.self)
            V.storeBytes(of: V.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self) + gv, toByteOffset: o, as: SIMD8<Float>.self)
            i += 8
        }
        while i < r.upperBound { p[i] += g[i]; m[i] += g[i]; v[i] += g[i]; i += 1 }
    }
}
