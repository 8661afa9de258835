import Testing
@testable import StepCore

/// A request refused for its content changes nothing, and leaves nothing behind that could leak
/// into the next step.
@Suite struct RejectedRequestTests {
    static func expectUnchanged(_ s: Session, _ before: SessionFingerprint, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(SessionFingerprint(s) == before, sourceLocation: sourceLocation)
    }

    @Test("an unknown tensor name is refused, naming it and the known ones")
    func unknownTensor() throws {
        let s = try Fixture.session(Fixture.adamw())
        let before = SessionFingerprint(s)
        var g = Fixture.grads(0)
        g["bias"] = [1]
        expectInvalid(field: "grads.bias", mentioning: [#""bias""#, "w", "b"]) { _ = try s.step(grads: g) }
        Self.expectUnchanged(s, before)
    }

    @Test("a missing tensor is refused, naming it")
    func missingTensor() throws {
        let s = try Fixture.session(Fixture.adamw())
        let before = SessionFingerprint(s)
        var g = Fixture.grads(0)
        g["b"] = nil
        expectInvalid(field: "grads", mentioning: [#""b""#]) { _ = try s.step(grads: g) }
        Self.expectUnchanged(s, before)
    }

    @Test("a tensor of the wrong length is refused, naming shape and count")
    func wrongLength() throws {
        let s = try Fixture.session(Fixture.adamw())
        let before = SessionFingerprint(s)
        var g = Fixture.grads(0)
        g["w"] = [1, 2, 3]
        expectInvalid(field: "grads.w", mentioning: ["[3, 3]", "9", "got 3"]) { _ = try s.step(grads: g) }
        Self.expectUnchanged(s, before)
    }

    @Test("a raw body too short or too long is refused at the right moment", arguments: [GradientDType.f32, .bf16, .f16])
    func rawBodyLength(dtype: GradientDType) throws {
        let s = try Fixture.session(Fixture.adamw())
        let before = SessionFingerprint(s)
        let w = dtype.byteWidth
        let expected = 13 * w

        // Too short by one byte: accepted while writing, refused on submit.
        let short = try s.beginUpload(dtype: dtype)
        #expect(short.expectedBytes == expected)
        try [UInt8](repeating: 0x3F, count: expected - 1).withUnsafeBytes { try short.write($0) }
        expectInvalid(field: "body", mentioning: ["\(expected)", "got \(expected - 1)"]) { _ = try s.submit(short) }
        Self.expectUnchanged(s, before)

        // One byte over: a partial value, refused on submit.
        let oneOver = try s.beginUpload(dtype: dtype)
        try [UInt8](repeating: 0x3F, count: expected + 1).withUnsafeBytes { try oneOver.write($0) }
        expectInvalid(field: "body") { _ = try s.submit(oneOver) }
        Self.expectUnchanged(s, before)

        // A whole value over: refused by write itself, and on submit.
        let long = try s.beginUpload(dtype: dtype)
        expectInvalid(field: "body", mentioning: ["\(expected)"]) {
            try [UInt8](repeating: 0x3F, count: expected + w).withUnsafeBytes { try long.write($0) }
        }
        expectInvalid(field: "body") { _ = try s.submit(long) }
        Self.expectUnchanged(s, before)

        // Empty.
        expectInvalid(field: "body", mentioning: ["got 0"]) { _ = try s.submit(s.beginUpload(dtype: dtype)) }
        Self.expectUnchanged(s, before)
    }

    @Test("after rejected requests the next valid step equals a twin that never saw them")
    func rejectionsLeaveNoResidue() throws {
        let s = try Fixture.session(Fixture.adamw())
        let twin = try Fixture.session(Fixture.adamw())
        // A named upload that wrote w with garbage but missed b, and a raw body cut short.
        let partial = try s.beginUpload()
        try partial.set("w", values: Array(repeating: 1e30, count: 9), field: "grads.w")
        #expect(sessionError { _ = try s.submit(partial) } != nil)
        let raw = try s.beginUpload(dtype: .f32)
        try [UInt8](repeating: 0x7F, count: 20).withUnsafeBytes { try raw.write($0) }
        #expect(sessionError { _ = try s.submit(raw) } != nil)
        // A tensor given twice.
        let twice = try s.beginUpload()
        try twice.set("b", values: [1, 2, 3, 4], field: "grads.b")
        expectInvalid(field: "grads.b", mentioning: ["twice"]) { try twice.set("b", values: [1, 2, 3, 4], field: "grads.b") }

        for k in 0..<2 {
            _ = try s.step(grads: Fixture.grads(k))
            _ = try twin.step(grads: Fixture.grads(k))
        }
        #expect(SessionFingerprint(s).params == SessionFingerprint(twin).params)
        #expect(SessionFingerprint(s).state == SessionFingerprint(twin).state)
    }

    @Test("replaceParams refuses non-finite values and unknown tensors without writing any")
    func replaceParamsRefusals() throws {
        let s = try Fixture.session(Fixture.adamw())
        let before = SessionFingerprint(s)
        let u = try s.beginParamsUpload()
        try u.set("w", values: Array(repeating: 2, count: 9), field: "params.w")
        try u.set("b", values: [1, .nan, 1, 1], field: "params.b")
        expectInvalid(field: "params", mentioning: ["finite"]) { _ = try s.replaceParams(u) }
        expectInvalid(field: "params.x") { try s.beginParamsUpload().set("x", values: [1], field: "params.x") }
        expectInvalid(field: "params", mentioning: ["no tensors"]) { _ = try s.replaceParams(s.beginParamsUpload()) }
        Self.expectUnchanged(s, before)
        // A partial replacement keeps the other tensors.
        let ok = try s.beginParamsUpload()
        try ok.set("b", values: [4, 3, 2, 1], field: "params.b")
        #expect(try s.replaceParams(ok) == 0)
        let p = try s.paramsByName()
        #expect(p["b"] == [4, 3, 2, 1])
        #expect(p["w"]!.map { $0.bitPattern } == before.params.prefix(9).map { $0 })
    }
}
