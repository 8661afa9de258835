import CStepIntrinsics

/// One of bitsandbytes' dynamic 8-bit maps (`create_dynamic_map`): 256 sorted values in [-1, 1]
/// (`signed`, for state that changes sign, bitsandbytes' `qmap1`) or [0, 1] (`unsigned`, for
/// state that cannot be negative such as exp_avg_sq, `qmap2`), dense near zero and linear
/// within each decade, so a block's small and large values both keep about two significant
/// digits. The values are bitsandbytes 0.50's, bit for bit (a test compares them with the
/// recorded conformance case and the Python suite with bitsandbytes itself).
///
/// Quantizing finds the nearest code of a normalized value `x = value / absmax`, a tie going to
/// the lower code; as bitsandbytes' CPU quantizer does, the search takes the map's first value
/// as -1 (the signed map starts at -0.9930; dequantizing still uses the stored value). The
/// search is one table read: the top 16 bits of `x`'s float32 pattern (in an order-preserving
/// form) pick a bucket, and a bucket holds at most one midpoint between codes, so its entry is
/// how many midpoints lie below the bucket and the low 16 bits of the one inside it (0xFFFF if
/// none): one integer comparison of `x`'s low 16 bits with those finishes the search. A search
/// with two dependent reads (the bucket, then the midpoint) cost a third more per step, and
/// table reads are what limits q8's speed (README). Midpoints are exact: each is the largest
/// float32 not above the true midpoint, so `x > midpoint` is decided as it would be in exact
/// arithmetic.
///
/// The tables are built once per process and never freed: the kernels read them through raw
/// pointers, and `QuantizationMap` is a plain value that can travel in `LaneBuffers`.
public struct QuantizationMap: @unchecked Sendable, Equatable {
    /// The 256 values a code stands for.
    public let values: UnsafePointer<Float>
    /// Per bucket: the code of the bucket's lowest value << 16, or-ed with the low 16 bits of the
    /// order key of the midpoint inside the bucket (0xFFFF if none).
    @usableFromInline let search: UnsafePointer<UInt32>
    public let isSigned: Bool

    /// Elements per block, each block with its own absmax (bitsandbytes' `blocksize`).
    public static let blockSize = 256
    /// Tensors with fewer elements keep float32 state (bitsandbytes' `min_8bit_size`).
    public static let minimumElements = 4096

    /// The order-preserving key of -1.0's top 16 bits, and how many buckets cover [-1, 1].
    @inlinable static var bucketBase: Int32 { 0x407F }
    @inlinable static var bucketCount: Int32 { 0xBF80 - 0x407F + 1 }

    public static let signed = QuantizationMap(values: signedValues, isSigned: true)
    public static let unsigned = QuantizationMap(values: unsignedValues, isSigned: false)

    public static func == (a: QuantizationMap, b: QuantizationMap) -> Bool { a.values == b.values }

    private init(values source: [Float], isSigned: Bool) {
        precondition(source.count == 256 && zip(source, source.dropFirst()).allSatisfy { $0 <= $1 }, "a map is 256 sorted values")
        self.isSigned = isSigned
        let values = UnsafeMutablePointer<Float>.allocate(capacity: 256)
        values.initialize(from: source, count: 256)
        var search = source
        search[0] = -1
        var midpoints = [Float](repeating: .infinity, count: 256)
        for k in 0..<255 {
            let exact = (Double(search[k]) + Double(search[k + 1])) / 2
            var m = Float(exact)
            if Double(m) > exact { m = m.nextDown }
            midpoints[k] = m
        }
        let count = Int(QuantizationMap.bucketCount)
        let table = UnsafeMutablePointer<UInt32>.allocate(capacity: count)
        var below = 0
        for b in 0..<count {
            let key = UInt32(Int(QuantizationMap.bucketBase) + b) << 16
            while below < 255 && midpoints[below] < QuantizationMap.float(orderKey: key) { below += 1 }
            let inside = below < 255 && QuantizationMap.bucket(midpoints[below]) == Int32(b)
            if inside && below + 1 < 255 {
                precondition(QuantizationMap.bucket(midpoints[below + 1]) != Int32(b),
                             "a bucket holds at most one midpoint, so one comparison finds the code")
            }
            let low = inside ? QuantizationMap.orderKey(midpoints[below]) & 0xFFFF : 0xFFFF
            table[b] = UInt32(below) << 16 | low
        }
        self.values = UnsafePointer(values)
        self.search = UnsafePointer(table)
    }

    /// The float whose order-preserving key is `key` (inverse of `orderKey`).
    static func float(orderKey key: UInt32) -> Float {
        key & 0x8000_0000 != 0 ? Float(bitPattern: key ^ 0x8000_0000) : Float(bitPattern: ~key)
    }

    /// Ordered as the floats are: negative patterns inverted, positive ones with the sign set.
    static func orderKey(_ x: Float) -> UInt32 {
        let bits = x.bitPattern
        return bits & 0x8000_0000 != 0 ? ~bits : bits ^ 0x8000_0000
    }

    static func bucket(_ x: Float) -> Int32 {
        min(max(Int32(orderKey(x) >> 16) - bucketBase, 0), bucketCount - 1)
    }

    /// The nearest code of one normalized value.
    public func code(_ x: Float) -> UInt8 {
        var x = x, c: UInt8 = 0
        quantize(&x, count: 1, dividedBy: 1, into: &c)
        return c
    }

    /// The nearest codes of `values[i] / d` for `i < count`, into `codes`.
    @inlinable @inline(__always)
    public func quantize(_ values: UnsafePointer<Float>, count: Int, dividedBy d: Float, into codes: UnsafeMutablePointer<UInt8>) {
        stepd_q8_quantize(values, count, d, search, QuantizationMap.bucketBase, QuantizationMap.bucketCount, codes)
    }

    private static let signedValues: [Float] = [
        -0x1.fc6666p-1, -0x1.f53334p-1, -0x1.eep-1, -0x1.e6ccccp-1, -0x1.df999ap-1, -0x1.d86666p-1,
        -0x1.d13334p-1, -0x1.cap-1, -0x1.c2ccccp-1, -0x1.bb999ap-1, -0x1.b46666p-1, -0x1.ad3334p-1,
        -0x1.a6p-1, -0x1.9eccccp-1, -0x1.97999ap-1, -0x1.906666p-1, -0x1.893334p-1, -0x1.82p-1,
        -0x1.7accccp-1, -0x1.73999ap-1, -0x1.6c6668p-1, -0x1.653334p-1, -0x1.5ep-1, -0x1.56ccccp-1,
        -0x1.4f999ap-1, -0x1.486668p-1, -0x1.413334p-1, -0x1.3ap-1, -0x1.32ccccp-1, -0x1.2b999ap-1,
        -0x1.246668p-1, -0x1.1d3334p-1, -0x1.16p-1, -0x1.0eccccp-1, -0x1.079998p-1, -0x1.006666p-1,
        -0x1.f26664p-2, -0x1.e4p-2, -0x1.d59998p-2, -0x1.c73334p-2, -0x1.b8ccccp-2, -0x1.aa6666p-2,
        -0x1.9cp-2, -0x1.8d9998p-2, -0x1.7f3334p-2, -0x1.70ccccp-2, -0x1.626666p-2, -0x1.54p-2,
        -0x1.459998p-2, -0x1.373334p-2, -0x1.28ccccp-2, -0x1.1a6668p-2, -0x1.0cp-2, -0x1.fb3332p-3,
        -0x1.de6666p-3, -0x1.c1999ap-3, -0x1.a4ccccp-3, -0x1.88p-3, -0x1.6b3334p-3, -0x1.4e6666p-3,
        -0x1.31999ap-3, -0x1.14ccccp-3, -0x1.fp-4, -0x1.b66668p-4, -0x1.93d70ap-4, -0x1.8851eep-4,
        -0x1.7ccccep-4, -0x1.7147aep-4, -0x1.65c29p-4, -0x1.5a3d7p-4, -0x1.4eb854p-4, -0x1.433334p-4,
        -0x1.37ae14p-4, -0x1.2c28f6p-4, -0x1.20a3d6p-4, -0x1.151ebap-4, -0x1.09999ap-4, -0x1.fc28f6p-5,
        -0x1.e51ebap-5, -0x1.ce147ap-5, -0x1.b70a3ep-5, -0x1.ap-5, -0x1.88f5c2p-5, -0x1.71eb86p-5,
        -0x1.5ae146p-5, -0x1.43d70ap-5, -0x1.2ccccep-5, -0x1.15c29p-5, -0x1.fd70a4p-6, -0x1.cf5c2ap-6,
        -0x1.a147aep-6, -0x1.733334p-6, -0x1.451ebap-6, -0x1.170a3ep-6, -0x1.d1eb86p-7, -0x1.75c29p-7,
        -0x1.3e76c8p-7, -0x1.2c083p-7, -0x1.19999ap-7, -0x1.072b02p-7, -0x1.e978d4p-8, -0x1.c49ba6p-8,
        -0x1.9fbe76p-8, -0x1.7ae148p-8, -0x1.56041ap-8, -0x1.3126e8p-8, -0x1.0c49bap-8, -0x1.ced914p-9,
        -0x1.851eb8p-9, -0x1.3b645ap-9, -0x1.e353f8p-10, -0x1.4fdf3ap-10, -0x1.eecbfep-11, -0x1.b3d07cp-11,
        -0x1.78d5p-11, -0x1.3dd982p-11, -0x1.02de02p-11, -0x1.8fc506p-12, -0x1.19ce0ap-12, -0x1.47ae16p-13,
        -0x1.743e96p-14, -0x1.15df66p-14, -0x1.6f0068p-15, -0x1.64840cp-16, -0x1.040bfep-17, -0x1.b43528p-19,
        -0x1.27476ep-21, 0, 0x1.27476ep-21, 0x1.b43528p-19, 0x1.040bfep-17, 0x1.64840cp-16,
        0x1.6f0068p-15, 0x1.15df66p-14, 0x1.743e96p-14, 0x1.47ae16p-13, 0x1.19ce0ap-12, 0x1.8fc506p-12,
        0x1.02de02p-11, 0x1.3dd982p-11, 0x1.78d5p-11, 0x1.b3d07cp-11, 0x1.eecbfep-11, 0x1.4fdf3ap-10,
        0x1.e353f8p-10, 0x1.3b645ap-9, 0x1.851eb8p-9, 0x1.ced914p-9, 0x1.0c49bap-8, 0x1.3126e8p-8,
        0x1.56041ap-8, 0x1.7ae148p-8, 0x1.9fbe76p-8, 0x1.c49ba6p-8, 0x1.e978d4p-8, 0x1.072b02p-7,
        0x1.19999ap-7, 0x1.2c083p-7, 0x1.3e76c8p-7, 0x1.75c29p-7, 0x1.d1eb86p-7, 0x1.170a3ep-6,
        0x1.451ebap-6, 0x1.733334p-6, 0x1.a147aep-6, 0x1.cf5c2ap-6, 0x1.fd70a4p-6, 0x1.15c29p-5,
        0x1.2ccccep-5, 0x1.43d70ap-5, 0x1.5ae146p-5, 0x1.71eb86p-5, 0x1.88f5c2p-5, 0x1.ap-5,
        0x1.b70a3ep-5, 0x1.ce147ap-5, 0x1.e51ebap-5, 0x1.fc28f6p-5, 0x1.09999ap-4, 0x1.151ebap-4,
        0x1.20a3d6p-4, 0x1.2c28f6p-4, 0x1.37ae14p-4, 0x1.433334p-4, 0x1.4eb854p-4, 0x1.5a3d7p-4,
        0x1.65c29p-4, 0x1.7147aep-4, 0x1.7ccccep-4, 0x1.8851eep-4, 0x1.93d70ap-4, 0x1.b66668p-4,
        0x1.fp-4, 0x1.14ccccp-3, 0x1.31999ap-3, 0x1.4e6666p-3, 0x1.6b3334p-3, 0x1.88p-3,
        0x1.a4ccccp-3, 0x1.c1999ap-3, 0x1.de6666p-3, 0x1.fb3332p-3, 0x1.0cp-2, 0x1.1a6668p-2,
        0x1.28ccccp-2, 0x1.373334p-2, 0x1.459998p-2, 0x1.54p-2, 0x1.626666p-2, 0x1.70ccccp-2,
        0x1.7f3334p-2, 0x1.8d9998p-2, 0x1.9cp-2, 0x1.aa6666p-2, 0x1.b8ccccp-2, 0x1.c73334p-2,
        0x1.d59998p-2, 0x1.e4p-2, 0x1.f26664p-2, 0x1.006666p-1, 0x1.079998p-1, 0x1.0eccccp-1,
        0x1.16p-1, 0x1.1d3334p-1, 0x1.246668p-1, 0x1.2b999ap-1, 0x1.32ccccp-1, 0x1.3ap-1,
        0x1.413334p-1, 0x1.486668p-1, 0x1.4f999ap-1, 0x1.56ccccp-1, 0x1.5ep-1, 0x1.653334p-1,
        0x1.6c6668p-1, 0x1.73999ap-1, 0x1.7accccp-1, 0x1.82p-1, 0x1.893334p-1, 0x1.906666p-1,
        0x1.97999ap-1, 0x1.9eccccp-1, 0x1.a6p-1, 0x1.ad3334p-1, 0x1.b46666p-1, 0x1.bb999ap-1,
        0x1.c2ccccp-1, 0x1.cap-1, 0x1.d13334p-1, 0x1.d86666p-1, 0x1.df999ap-1, 0x1.e6ccccp-1,
        0x1.eep-1, 0x1.f53334p-1, 0x1.fc6666p-1, 0x1p+0,
    ]
    private static let unsignedValues: [Float] = [
        0, 0x1.5cf754p-22, 0x1.a0133p-21, 0x1.1d367p-19, 0x1.2599ecp-18, 0x1.bc98a2p-18,
        0x1.29cbaap-17, 0x1.0624dcp-16, 0x1.c2e34p-16, 0x1.3fd0dp-15, 0x1.9e3p-15, 0x1.fc8f34p-15,
        0x1.2d7732p-14, 0x1.5ca6c8p-14, 0x1.8bd662p-14, 0x1.0cb296p-13, 0x1.82a994p-13, 0x1.f8a092p-13,
        0x1.374bc8p-12, 0x1.724744p-12, 0x1.ad42c6p-12, 0x1.e83e44p-12, 0x1.119ce2p-11, 0x1.2f1aap-11,
        0x1.4c986p-11, 0x1.6a162p-11, 0x1.8793dep-11, 0x1.a511ap-11, 0x1.c28f5ep-11, 0x1.e00d1cp-11,
        0x1.fd8adcp-11, 0x1.2b020cp-10, 0x1.74bc6ap-10, 0x1.be76c8p-10, 0x1.041894p-9, 0x1.28f5c2p-9,
        0x1.4dd2fp-9, 0x1.72b02p-9, 0x1.978d4ep-9, 0x1.bc6a8p-9, 0x1.e147aep-9, 0x1.03126ep-8,
        0x1.158104p-8, 0x1.27ef9ep-8, 0x1.3a5e34p-8, 0x1.4cccccp-8, 0x1.5f3b64p-8, 0x1.71a9fap-8,
        0x1.841894p-8, 0x1.96872ap-8, 0x1.a8f5c2p-8, 0x1.bb645cp-8, 0x1.cdd2fp-8, 0x1.e0418ap-8,
        0x1.f2b01ep-8, 0x1.028f5cp-7, 0x1.0bc6a8p-7, 0x1.14fdf2p-7, 0x1.1e354p-7, 0x1.276c8ap-7,
        0x1.30a3d6p-7, 0x1.39db24p-7, 0x1.43126ep-7, 0x1.5eb854p-7, 0x1.8ccccep-7, 0x1.bae146p-7,
        0x1.e8f5c4p-7, 0x1.0b851ep-6, 0x1.228f5ep-6, 0x1.39999ap-6, 0x1.50a3d6p-6, 0x1.67ae16p-6,
        0x1.7eb852p-6, 0x1.95c28ep-6, 0x1.accccep-6, 0x1.c3d70ep-6, 0x1.dae146p-6, 0x1.f1eb86p-6,
        0x1.047aep-5, 0x1.1p-5, 0x1.1b851ep-5, 0x1.270a3ep-5, 0x1.328f5ep-5, 0x1.3e147ap-5,
        0x1.49999ap-5, 0x1.551eb8p-5, 0x1.60a3d6p-5, 0x1.6c28f6p-5, 0x1.77ae14p-5, 0x1.833334p-5,
        0x1.8eb85p-5, 0x1.9a3d7p-5, 0x1.a5c28ep-5, 0x1.b147aep-5, 0x1.bccccep-5, 0x1.c851eep-5,
        0x1.d3d70ep-5, 0x1.df5c2ap-5, 0x1.eae146p-5, 0x1.f66666p-5, 0x1.00f5c4p-4, 0x1.06b854p-4,
        0x1.0c7ae2p-4, 0x1.123d7p-4, 0x1.18p-4, 0x1.1dc29p-4, 0x1.23852p-4, 0x1.2947aep-4,
        0x1.2f0a3ep-4, 0x1.34cccep-4, 0x1.3a8f5ep-4, 0x1.4051ecp-4, 0x1.46147cp-4, 0x1.4bd70ap-4,
        0x1.51999ap-4, 0x1.575c2ap-4, 0x1.5d1eb8p-4, 0x1.62e148p-4, 0x1.68a3d6p-4, 0x1.6e6666p-4,
        0x1.7428f6p-4, 0x1.79eb86p-4, 0x1.7fae16p-4, 0x1.8570a4p-4, 0x1.8b3334p-4, 0x1.90f5c4p-4,
        0x1.96b852p-4, 0x1.a8p-4, 0x1.c4ccccp-4, 0x1.e1999ap-4, 0x1.fe6666p-4, 0x1.0d9998p-3,
        0x1.1cp-3, 0x1.2a6668p-3, 0x1.38ccccp-3, 0x1.473334p-3, 0x1.559998p-3, 0x1.64p-3,
        0x1.726668p-3, 0x1.80ccccp-3, 0x1.8f3334p-3, 0x1.9d9998p-3, 0x1.acp-3, 0x1.ba6668p-3,
        0x1.c8ccccp-3, 0x1.d73334p-3, 0x1.e59998p-3, 0x1.f4p-3, 0x1.013332p-2, 0x1.086666p-2,
        0x1.0f999ap-2, 0x1.16ccccp-2, 0x1.1ep-2, 0x1.253334p-2, 0x1.2c6666p-2, 0x1.339998p-2,
        0x1.3accccp-2, 0x1.42p-2, 0x1.493334p-2, 0x1.506666p-2, 0x1.579998p-2, 0x1.5eccccp-2,
        0x1.66p-2, 0x1.6d3334p-2, 0x1.746666p-2, 0x1.7b9998p-2, 0x1.82ccccp-2, 0x1.8ap-2,
        0x1.913334p-2, 0x1.986666p-2, 0x1.9f9998p-2, 0x1.a6ccccp-2, 0x1.aep-2, 0x1.b53334p-2,
        0x1.bc6666p-2, 0x1.c39998p-2, 0x1.caccccp-2, 0x1.d2p-2, 0x1.d93334p-2, 0x1.e06666p-2,
        0x1.e79998p-2, 0x1.eeccccp-2, 0x1.f6p-2, 0x1.fd3332p-2, 0x1.023334p-1, 0x1.05ccccp-1,
        0x1.096666p-1, 0x1.0dp-1, 0x1.109998p-1, 0x1.143334p-1, 0x1.17ccccp-1, 0x1.1b6668p-1,
        0x1.1fp-1, 0x1.22999ap-1, 0x1.263334p-1, 0x1.29ccccp-1, 0x1.2d6668p-1, 0x1.31p-1,
        0x1.34999ap-1, 0x1.383334p-1, 0x1.3bccccp-1, 0x1.3f6668p-1, 0x1.43p-1, 0x1.46999ap-1,
        0x1.4a3334p-1, 0x1.4dccccp-1, 0x1.516668p-1, 0x1.55p-1, 0x1.58999ap-1, 0x1.5c3334p-1,
        0x1.5fccccp-1, 0x1.636668p-1, 0x1.67p-1, 0x1.6a999ap-1, 0x1.6e3334p-1, 0x1.71ccccp-1,
        0x1.756668p-1, 0x1.79p-1, 0x1.7c999ap-1, 0x1.803334p-1, 0x1.83ccccp-1, 0x1.876668p-1,
        0x1.8bp-1, 0x1.8e9998p-1, 0x1.923334p-1, 0x1.95ccccp-1, 0x1.996668p-1, 0x1.9dp-1,
        0x1.a09998p-1, 0x1.a43334p-1, 0x1.a7ccccp-1, 0x1.ab6668p-1, 0x1.afp-1, 0x1.b29998p-1,
        0x1.b63334p-1, 0x1.b9ccccp-1, 0x1.bd6668p-1, 0x1.c1p-1, 0x1.c49998p-1, 0x1.c83334p-1,
        0x1.cbccccp-1, 0x1.cf6668p-1, 0x1.d3p-1, 0x1.d69998p-1, 0x1.da3334p-1, 0x1.ddccccp-1,
        0x1.e16668p-1, 0x1.e5p-1, 0x1.e89998p-1, 0x1.ec3334p-1, 0x1.efccccp-1, 0x1.f36668p-1,
        0x1.f7p-1, 0x1.fa9998p-1, 0x1.fe3334p-1, 0x1p+0,
    ]
}
