import StepKernels
import Testing

@Suite struct ASGDKernelTests {
    static let variants: [KernelVariant] = [
        .asgd("asgd defaults (mu == 1: ax copies p)"),
        .asgd("asgd weight decay 0.01, lambd 0.1", lambd: 0.1, weightDecay: 0.01),
        .asgd("asgd t0 0 (mu 1, 1, then 1/2)", lr: 5e-2, t0: 0),
        .asgd("asgd steps 5-7 with t0 1 (mu 1/3, 1/4, 1/5), lambd 0.05, alpha 0.6, wd 0.05", lr: 5e-2, lambd: 0.05, alpha: 0.6,
              t0: 1, weightDecay: 0.05, fromStep: 5),
    ]

    @Test("while mu == 1, ax is a copy of the parameters")
    func axCopiesParametersBeforeT0() {
        let (params, grads) = KernelHarness.inputs(length: 23)
        let run = KernelHarness.kernel(Self.variants[1], params: params, grads: grads)
        #expect(run.state[0] == run.params)
    }

    @Test("after t0, ax averages the iterates: with t0 = 0 the third step's ax is the mean of p2 and p3")
    func axAveragesAfterT0() {
        let (params, grads) = KernelHarness.inputs(length: 23)
        let v = Self.variants[2]
        let two = KernelHarness.kernel(v, params: params, grads: Array(grads.prefix(2)))
        let three = KernelHarness.kernel(v, params: params, grads: grads)
        #expect(two.state[0] == two.params)
        for i in 0..<params.count {
            let p2 = two.params[i], p3 = three.params[i]
            #expect(three.state[0][i] == p2 + (p3 - p2) * 0.5, "[\(i)]")
        }
        #expect(three.state[0] != three.params)
    }

    @Test("eta decays with the step and the decay term uses it: lr on step 1, lr/(1+lambd*lr*(t-1))^alpha after")
    func etaDecays() {
        let first = ScalarReference.asgdScalars(lr: 0.1, lambd: 1, alpha: 1, t0: 0, step: 1)
        #expect(first.eta == Float(0.1) && first.mu == 1)
        let third = ScalarReference.asgdScalars(lr: 0.1, lambd: 1, alpha: 1, t0: 0, step: 3)
        #expect(third.eta == Float(0.1 / 1.2) && third.mu == 0.5)
        // A zero gradient leaves only the decay p *= 1 - lambd*eta.
        let v = KernelVariant.asgd("decay only", lr: 0.1, lambd: 1, alpha: 1, t0: 0)
        let params: [Float] = [1, -2, 3, 0.5, -0.25, 8, -8, 1.5, 0.1]
        let zero = [Float](repeating: 0, count: params.count)
        let run = KernelHarness.kernel(v, params: params, grads: [zero, zero])
        let expected = params.map { ($0 * Float(1 - Double(Float(0.1)))) * Float(1 - Double(Float(0.1 / 1.1))) }
        #expect(run.params == expected)
    }
}
