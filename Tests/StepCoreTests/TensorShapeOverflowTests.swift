import Foundation
import StepJSON
import Testing
@testable import StepCore

/// A shape whose element count overflows Int must be refused as invalid, never crash the process.
/// Run as exit tests so a trap fails the test instead of killing the test runner.
@Suite struct TensorShapeOverflowTests {
    @Test("a shape whose product overflows Int is refused, not a crash")
    func overflowingShapeRefused() async {
        await #expect(processExitsWith: .success) {
            let body: JSONValue = ["optimizer": ["type": "sgd"], "params": [["name": "w", "shape": [4_294_967_296, 4_294_967_296]]]]
            // Exit 0 only when refused as invalid on params[0].shape; 1 if accepted (the tensor cannot
            // exist), 2 for another error. Before the fix this traps in TensorLayout.init.
            var code: Int32 = 1
            do {
                _ = try SessionConfig.parse(body)
            } catch let e as SessionError {
                if case .invalid("params[0].shape", _) = e { code = 0 } else { code = 2 }
            } catch {
                code = 2
            }
            exit(code)
        }
    }

    @Test("a shape just over the 2^40 element limit is refused with its field")
    func largeShapeRefused() {
        expectInvalid(field: "params[0].shape", mentioning: ["more than stepd can hold"]) {
            _ = try Fixture.config(#"{"optimizer": {"type": "sgd"}, "params": [{"name": "w", "shape": [1048577, 1048576]}]}"#)
        }
    }
}
