import StepKernels
import Testing

@Suite struct AlignedBufferTests {
    @Test("buffers are 64-byte aligned and filled", arguments: [0, 1, 7, 1023])
    func alignedAndFilled(count: Int) {
        let b = AlignedBuffer(count: count, filledWith: 2.5)
        #expect(Int(bitPattern: b.pointer) % AlignedBuffer.alignment == 0)
        #expect(b.count == count)
        #expect(b.byteCount == count * 4)
        #expect(b.array == Array(repeating: 2.5, count: count))
    }

    @Test("copy is independent of the original")
    func copyIsDeep() {
        let a = AlignedBuffer([1, 2, 3])
        let c = a.copy()
        a.fill(9)
        #expect(c.array == [1, 2, 3])
        #expect(a.array == [9, 9, 9])
    }
}
