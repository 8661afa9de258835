import Foundation
import StepKernels
import Testing
@testable import StepCore

/// Raw bodies arrive in chunks that may cut a value anywhere; the upload carries the partial
/// value over, so any chunking gives the same gradient as one write.
@Suite struct RawUploadTests {
    /// Little-endian bytes of the 13 gradient values of `Fixture.adamw()` in `dtype`, and the
    /// float32 values they stand for.
    static func body(_ dtype: GradientDType) -> (bytes: [UInt8], values: [Float]) {
        let g = Fixture.grads(3)
        let floats = (g["w"]! + g["b"]!).map { Float($0) }
        var bytes: [UInt8] = []
        var values: [Float] = []
        for f in floats {
            switch dtype {
            case .f32:
                let b = f.bitPattern
                bytes += [UInt8(b & 0xFF), UInt8((b >> 8) & 0xFF), UInt8((b >> 16) & 0xFF), UInt8(b >> 24)]
                values.append(f)
            case .bf16:
                let h = UInt16(f.bitPattern >> 16)  // truncation is a valid bf16 value
                bytes += [UInt8(h & 0xFF), UInt8(h >> 8)]
                values.append(Float(bitPattern: UInt32(h) << 16))
            case .f16:
                // |f| < 1 here: encode as a normal or subnormal half by rounding the mantissa down.
                let h = f16Bits(f)
                bytes += [UInt8(h & 0xFF), UInt8(h >> 8)]
                values.append(HalfPrecision.f16ToFloat(h))
            }
        }
        return (bytes, values)
    }

    /// A float32 truncated to binary16 (normal range only; the test values are in (-1, 1)).
    static func f16Bits(_ f: Float) -> UInt16 {
        let b = f.bitPattern
        let sign = UInt16((b >> 16) & 0x8000)
        let e = Int((b >> 23) & 0xFF) - 127 + 15
        if e <= 0 { return sign }
        return sign | UInt16(e << 10) | UInt16((b >> 13) & 0x3FF)
    }

    static func write(_ bytes: [UInt8], chunk: Int, to upload: GradientUpload) throws {
        try bytes.withUnsafeBytes { raw in
            var at = 0
            while at < raw.count {
                let end = min(raw.count, at + chunk)
                try upload.write(UnsafeRawBufferPointer(rebasing: raw[at..<end]))
                at = end
            }
        }
    }

    @Test("chunks of 1, 3, 5 and 7 bytes give the same step as one write, and as the named upload",
          arguments: [GradientDType.f32, .bf16, .f16])
    func oddChunksEqualOneWrite(dtype: GradientDType) throws {
        let (bytes, values) = Self.body(dtype)
        #expect(bytes.count == 13 * dtype.byteWidth)
        let whole = try Fixture.session(Fixture.adamw())
        let u = try whole.beginUpload(dtype: dtype)
        try Self.write(bytes, chunk: bytes.count, to: u)
        #expect(u.written == 13)
        _ = try whole.submit(u)

        let named = try Fixture.session(Fixture.adamw())
        _ = try named.step(grads: ["w": values[0..<9].map(Double.init), "b": values[9...].map(Double.init)])
        #expect(SessionFingerprint(whole).params == SessionFingerprint(named).params)

        for chunk in [1, 3, 5, 7] {
            let s = try Fixture.session(Fixture.adamw())
            let u = try s.beginUpload(dtype: dtype)
            try Self.write(bytes, chunk: chunk, to: u)
            let o = try s.submit(u)
            #expect(o.step == 1)
            #expect(SessionFingerprint(s).params == SessionFingerprint(whole).params, "chunk \(chunk)")
            #expect(SessionFingerprint(s).state == SessionFingerprint(whole).state, "chunk \(chunk)")
        }
    }

    @Test("the uploaded buffer holds exactly the widened values")
    func bufferHoldsWidenedValues() throws {
        for dtype in [GradientDType.f32, .bf16, .f16] {
            let (bytes, values) = Self.body(dtype)
            let s = try Fixture.session(Fixture.adamw())
            let u = try s.beginUpload(dtype: dtype)
            try Self.write(bytes, chunk: 3, to: u)
            #expect(u.buffer.array.map { $0.bitPattern } == values.map { $0.bitPattern }, "\(dtype)")
        }
    }

    /// The gradient norm of a raw body is taken chunk by chunk as the bytes arrive; the step
    /// must not be able to tell it from the norm taken over the whole buffer afterwards.
    @Test("a raw body over several norm chunks, in odd pieces, steps exactly like the named upload",
          arguments: [GradientDType.f32, .bf16])
    func normTakenOnArrivalIsTheOnePassNorm(dtype: GradientDType) throws {
        let n = 65_536 * 2 + 11
        let body = #"{"optimizer": {"type": "adamw", "lr": 0.001}, "clip": {"max_norm": 1},"#
            + #" "params": [{"name": "w", "shape": [\#(n)], "init": {"type": "normal", "std": 0.02, "seed": 5}}]}"#
        var values: [Float] = []
        var bytes: [UInt8] = []
        for i in 0..<n {
            let x: Double = sin(Double(i) * 0.37) * (i % 5 == 0 ? 4 : 1)
            let v = dtype.rounded(Float(x))
            values.append(v)
            let b: UInt32 = v.bitPattern
            if dtype == .f32 { bytes.append(UInt8(b & 0xFF)); bytes.append(UInt8((b >> 8) & 0xFF)) }
            bytes.append(UInt8((b >> 16) & 0xFF))
            bytes.append(UInt8(b >> 24))
        }
        let named = try Fixture.session(body, threads: 2)
        let want = try named.step(grads: ["w": values.map(Double.init)])
        for chunk in [7, 65_536 * dtype.byteWidth + 3, bytes.count] {
            let s = try Fixture.session(body, threads: 2)
            let u = try s.beginUpload(dtype: dtype)
            try Self.write(bytes, chunk: chunk, to: u)
            #expect(u.sumOfSquares != nil)
            let got = try s.submit(u)
            #expect(got.record?.gradNorm?.bitPattern == want.record?.gradNorm?.bitPattern, "chunk \(chunk)")
            #expect(got.record?.clipped == true)
            #expect(SessionFingerprint(s) == SessionFingerprint(named), "chunk \(chunk)")
        }
    }

    @Test("a raw body with a NaN in its last bytes is skipped, as after a separate norm pass")
    func nanArrivingLastIsSeen() throws {
        let n = 65_536 + 5
        let body = #"{"optimizer": {"type": "adamw", "lr": 0.001}, "params": [{"name": "w", "shape": [\#(n)], "init": "zeros"}]}"#
        var floats = [Float](repeating: 0.5, count: n)
        floats[n - 1] = .nan
        let bytes = floats.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian, Array.init) }
        let s = try Fixture.session(body)
        let before = SessionFingerprint(s)
        let u = try s.beginUpload(dtype: .f32)
        try Self.write(bytes, chunk: 4093, to: u)
        let o = try s.submit(u)
        #expect(o.record?.skipped == true)
        #expect(SessionFingerprint(s).params == before.params)
    }

    @Test("an incomplete raw body has no precomputed norm and is refused")
    func shortBodyHasNoNorm() throws {
        let s = try Fixture.session(Fixture.adamw())
        let u = try s.beginUpload(dtype: .f32)
        try Self.write(Array(Self.body(.f32).bytes.dropLast(4)), chunk: 5, to: u)
        #expect(u.sumOfSquares == nil)
        #expect(sessionError { _ = try s.submit(u) } != nil)
    }
}
