import StepJSON
import Testing
@testable import StepCore

/// `coef = min(1, max_norm / (norm + 1e-6))`, applied to every gradient before the step.
@Suite struct ClippingTests {
    static func sgd(clip: Double) -> String {
        #"{"optimizer": {"type": "sgd", "lr": 1}, "clip": {"max_norm": \#(clip)}, "params": [{"name": "a", "shape": [2], "values": [0, 0]}, {"name": "b", "shape": [1], "values": [0]}]}"#
    }

    @Test("the global norm spans every tensor, and the coefficient follows the formula")
    func coefficientFormula() throws {
        let s = try Fixture.session(Self.sgd(clip: 1))
        let o = try s.step(grads: ["a": [3, 0], "b": [4]])
        let r = try #require(o.record)
        #expect(r.gradNorm == 5)
        #expect(r.clipCoef == 1 / (5 + 1e-6))
        #expect(r.clipped)
        // Plain SGD with lr 1: params = -coef * grad, the coefficient rounded to float32.
        let coef = Float(1 / (5 + 1e-6))
        #expect(try s.paramsByName() == ["a": [0 + -1 * (3 * coef), 0 + -1 * (0 * coef)], "b": [0 + -1 * (4 * coef)]])
    }

    @Test("a norm below max_norm leaves the gradient alone (coefficient 1, not clipped)")
    func belowMaxNormUnclipped() throws {
        let s = try Fixture.session(Self.sgd(clip: 10))
        let r = try #require(try s.step(grads: ["a": [3, 0], "b": [4]]).record)
        #expect(r.clipCoef == 1 && !r.clipped)
        #expect(try s.paramsByName() == ["a": [-3, 0], "b": [-4]])
    }

    @Test("without clip the coefficient is 1 whatever the norm")
    func noClip() throws {
        let s = try Fixture.session(#"{"optimizer": {"type": "sgd", "lr": 1}, "params": [{"name": "a", "shape": [1], "values": [0]}]}"#)
        let r = try #require(try s.step(grads: ["a": [1e30]]).record)
        #expect(r.clipCoef == 1 && !r.clipped && r.gradNorm == Double(Float(1e30)))
    }
}
