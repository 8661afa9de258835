import StepKernels
import Testing

@Suite struct AdagradKernelTests {
    static let variants: [KernelVariant] = [
        .adagrad("adagrad plain"),
        .adagrad("adagrad lr_decay 0.5", lrDecay: 0.5),
        .adagrad("adagrad initial accumulator 0.1", initialAccumulator: 0.1),
        .adagrad("adagrad lr_decay, initial accumulator, weight decay", lrDecay: 0.05, weightDecay: 0.01, initialAccumulator: 0.25),
    ]

    @Test("lr_decay divides the step-t learning rate by 1 + (t-1)*lr_decay")
    func lrDecayShrinksLaterSteps() {
        // Same gradient every step and a huge accumulator, so sum barely moves and the step size
        // is clr / sqrt(initial): the ratio of successive updates is the lr_decay factor.
        let v = KernelVariant.adagrad("decay 1", lr: 1, lrDecay: 1, eps: 0, initialAccumulator: 1e12)
        let one = KernelHarness.kernel(v, params: [0], grads: [[1]])
        let two = KernelHarness.kernel(v, params: [0], grads: [[1], [1]])
        let three = KernelHarness.kernel(v, params: [0], grads: [[1], [1], [1]])
        let d1 = Double(one.params[0]), d2 = Double(two.params[0] - one.params[0]), d3 = Double(three.params[0] - two.params[0])
        #expect(abs(d2 / d1 - 0.5) < 1e-4)
        #expect(abs(d3 / d1 - 1.0 / 3) < 1e-4)
    }

    @Test("the accumulator starts at initial_accumulator_value")
    func accumulatorStartsAtInitialValue() {
        let v = Self.variants[2]
        let run = KernelHarness.kernel(v, params: [1, 1], grads: [[0.5, 0]])
        #expect(run.state[0] == [Float(0.1) + 0.25, 0.1])
    }
}
