import Testing
@testable import StepTensors
import StepTensorsTesting

/// Strict rejection: every damaged or hand-crafted-wrong file is refused with an error that
/// says what is wrong.
@Suite struct SafetensorsValidationTests {
    static let goodJSON = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
    static let goodData = floatBytes([1, 2, 3])

    @Test func handBuiltFileIsAccepted() throws {
        let f = try SafetensorsFile(bytes: rawSafetensors(json: Self.goodJSON, data: Self.goodData))
        #expect(try f.floats("a") == [1, 2])
        #expect(try f.floats("b") == [3])
    }

    @Test func unpaddedHeaderIsAccepted() throws {
        // The format does not require padding; other writers may omit it.
        _ = try SafetensorsFile(bytes: rawSafetensors(json: Self.goodJSON + " ", data: Self.goodData, pad: false))
    }

    @Test func fileShorterThanTheLengthPrefixIsTruncated() {
        #expect(openError([1, 0, 0]) == .truncated(needed: 8, available: 3))
        #expect(openError([]) == .truncated(needed: 8, available: 0))
    }

    @Test func headerLengthLargerThanTheFileIsRefused() {
        var bytes = rawSafetensors(json: Self.goodJSON, data: Self.goodData)
        bytes[0] = 0xFF
        bytes[1] = 0xFF
        guard case .headerLengthInvalid(let n, let available) = openError(bytes) else {
            Issue.record("expected headerLengthInvalid"); return
        }
        #expect(n > UInt64(available))
        // A flipped top bit must not become a huge allocation.
        bytes[7] = 0x80
        #expect({ if case .headerLengthInvalid = openError(bytes) { true } else { false } }())
    }

    @Test func fileCutInsideTheHeaderIsRefused() {
        let bytes = Array(rawSafetensors(json: Self.goodJSON, data: Self.goodData).prefix(40))
        #expect({ if case .headerLengthInvalid = openError(bytes) { true } else { false } }())
    }

    @Test func fileCutInsideTheDataIsRefused() {
        let bytes = Array(rawSafetensors(json: Self.goodJSON, data: Self.goodData).dropLast(3))
        #expect(openError(bytes) == .bufferLengthMismatch(tensorsEnd: 12, bufferLength: 9))
    }

    @Test func trailingBytesAfterTheTensorsAreRefused() {
        let bytes = rawSafetensors(json: Self.goodJSON, data: Self.goodData + [0, 0, 0, 0])
        #expect(openError(bytes) == .bufferLengthMismatch(tensorsEnd: 12, bufferLength: 16))
    }

    @Test func overlappingOffsetsAreRefused() {
        let json = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        let e = openError(rawSafetensors(json: json, data: floatBytes([1, 2])))
        #expect(e == .misplacedTensor(tensor: "b", begin: 4, expectedBegin: 8))
        #expect(e?.description.contains("overlapping") == true)
    }

    @Test func gapBetweenTensorsIsRefused() {
        let json = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        let e = openError(rawSafetensors(json: json, data: floatBytes([1, 2, 3])))
        #expect(e == .misplacedTensor(tensor: "b", begin: 8, expectedBegin: 4))
        #expect(e?.description.contains("gap") == true)
    }

    @Test func tensorsOutOfHeaderOrderAreAcceptedByOffset() throws {
        let json = #"{"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let f = try SafetensorsFile(bytes: rawSafetensors(json: json, data: Self.goodData))
        #expect(f.tensors.map(\.name) == ["a", "b"])
    }

    @Test func unknownDTypeIsRefused() {
        let json = #"{"a":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}}"#
        let e = openError(rawSafetensors(json: json, data: floatBytes([1])))
        #expect(e == .unknownDType(tensor: "a", dtype: "F31"))
        #expect(e?.description.contains("F31") == true)
    }

    @Test func shapeAndOffsetsDisagreeingIsRefused() {
        let json = #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#
        #expect(openError(rawSafetensors(json: json, data: floatBytes([1, 2]))) == .sizeMismatch(tensor: "a", expected: 12, actual: 8))
        let half = #"{"a":{"dtype":"F16","shape":[4],"data_offsets":[0,4]}}"#
        #expect(openError(rawSafetensors(json: half, data: [1, 2, 3, 4])) == .sizeMismatch(tensor: "a", expected: 8, actual: 4))
    }

    @Test func malformedStructureIsRefusedNamingTheField() {
        let cases: [(String, String)] = [
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}}"#, "a.extra"),
            (#"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, "a.shape[0]"),
            (#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, "a.shape[0]"),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#, "a.data_offsets"),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, "a.data_offsets"),
            (#"{"a":{"shape":[1],"data_offsets":[0,4]}}"#, "a.dtype"),
            (#"{"a":[1,2]}"#, "a"),
            (#"{"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, "__metadata__.k"),
        ]
        for (json, field) in cases {
            guard case .invalidHeader(let f, _) = openError(rawSafetensors(json: json, data: floatBytes([1]))) else {
                Issue.record("accepted or wrong error for \(json)"); continue
            }
            #expect(f == field, "\(json)")
        }
    }

    @Test func headerThatIsNotAJSONObjectIsRefused() {
        for json in ["[1,2]", "{\"a\":", "{\"a\":1,\"a\":2}", "\u{0}{}", "not json"] {
            let e = openError(rawSafetensors(json: json, data: []))
            #expect({ if case .headerNotJSON = e { true } else { false } }(), "\(json): \(String(describing: e))")
        }
        // Invalid UTF-8 inside a string.
        var bytes = rawSafetensors(json: #"{"__metadata__":{"k":"ab"}}"#, data: [])
        bytes[8 + 23] = 0xFF
        #expect({ if case .headerNotJSON = openError(bytes) { true } else { false } }())
    }

    @Test func flippedDataByteIsCaughtByTheChecksum() throws {
        let good = try sampleSnapshot(step: 3)
        #expect(verifyError(good) == nil)
        var bad = good
        bad[bad.count - 5] ^= 0x01
        #expect(openError(bad) == nil, "a flipped data byte still parses")
        guard case .checksumMismatch = verifyError(bad) else { Issue.record("not detected"); return }
    }

    @Test func flippedMetadataByteIsCaughtByTheChecksum() throws {
        // "step":"3" -> "step":"2": valid JSON, wrong session; only a header-covering checksum sees it.
        var bytes = try sampleSnapshot(step: 3)
        let text = Array("\"step\":\"3\"".utf8)
        let at = try #require((0...(bytes.count - text.count)).first { Array(bytes[$0..<($0 + text.count)]) == text })
        bytes[at + text.count - 2] = UInt8(ascii: "2")
        #expect(try SafetensorsFile(bytes: bytes).metadata["step"] == "2")
        guard case .checksumMismatch = verifyError(bytes) else { Issue.record("not detected"); return }
    }

    @Test func flippedChecksumDigitIsCaught() throws {
        var bytes = try sampleSnapshot(step: 3)
        let text = Array("crc32c:".utf8)
        let at = try #require((0...(bytes.count - text.count)).first { Array(bytes[$0..<($0 + text.count)]) == text })
        bytes[at + 7] = bytes[at + 7] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
        guard case .checksumMismatch = verifyError(bytes) else { Issue.record("not detected"); return }
    }

    @Test func everySingleBitFlipIsDetected() throws {
        // Exhaustive on a small file: any flip either fails to parse or fails the checksum.
        let good = try sampleSnapshot(step: 12)
        for i in 0..<good.count {
            for bit in [0, 3, 7] {
                var bad = good
                bad[i] ^= UInt8(1 << bit)
                #expect(verifyError(bad) != nil, "flip of bit \(bit) in byte \(i) not detected")
            }
        }
    }
}
