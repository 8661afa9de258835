import StepKernels
import Testing

@Suite struct AdadeltaKernelTests {
    static let variants: [KernelVariant] = [
        .adadelta("adadelta defaults (lr 1, rho 0.9, eps 1e-6)"),
        .adadelta("adadelta weight decay 0.1", weightDecay: 0.1),
        .adadelta("adadelta rho 0.3, eps 1e-3, lr 0.5", lr: 0.5, rho: 0.3, eps: 1e-3),
        .adadelta("adadelta rho 0.99, weight decay 0.01, lr 2", lr: 2, rho: 0.99, weightDecay: 0.01),
    ]

    @Test("the first step moves by about lr*sqrt(eps/(1-rho)) whatever the gradient's size (acc_delta starts at 0)")
    func firstStepIsScaleFree() {
        // square_avg = (1-rho)*g², acc_delta = 0: delta = sqrt(eps)/sqrt((1-rho)*g² + eps) * g,
        // which is ±sqrt(eps/(1-rho)) for |g| >> sqrt(eps).
        let v = Self.variants[0]
        let grads: [Float] = [0.5, -2, 3, -100, 10, -0.25, 1, -1, 40]
        let run = KernelHarness.kernel(v, params: Array(repeating: 1, count: grads.count), grads: [grads])
        let expected = (1e-6 / 0.1).squareRoot()
        for (i, g) in grads.enumerated() {
            let moved = Double(1 - run.params[i])
            #expect(abs(moved - (g > 0 ? expected : -expected)) < 1e-3 * expected, "[\(i)] moved \(moved) for grad \(g)")
            // Slot 0 is square_avg, slot 1 acc_delta (both (1-rho) times a square after one step).
            #expect(abs(Double(run.state[0][i]) - 0.1 * Double(g * g)) <= 1e-6 * 0.1 * Double(g * g))
            #expect(abs(Double(run.state[1][i]) - 0.1 * moved * moved) <= 1e-3 * 0.1 * moved * moved)
        }
    }
}
