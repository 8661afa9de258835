import StepCore
import Testing

/// One id rule for the API and the snapshot store (they used to differ: 64 and 128 characters).
@Suite struct SessionIDTests {
    @Test func lengthIsOneToSixtyFour() {
        #expect(!SessionID.isValid(""))
        #expect(SessionID.isValid("a"))
        #expect(SessionID.isValid(String(repeating: "a", count: 64)))
        #expect(!SessionID.isValid(String(repeating: "a", count: 65)))
    }

    @Test func portableFileNameCharactersWithoutALeadingDot() {
        for id in ["run-1", "A.b_c-9", "550e8400-e29b-41d4-a716-446655440000", "a..b"] {
            #expect(SessionID.isValid(id), "\(id)")
        }
        for id in [".", "..", ".hidden", "a/b", "a b", "a%2Fb", "é", "a\u{0}b", "a\nb", "a:b"] {
            #expect(!SessionID.isValid(id), "\(id)")
        }
    }
}
