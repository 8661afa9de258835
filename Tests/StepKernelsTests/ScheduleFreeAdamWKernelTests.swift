import StepKernels
import Testing

@Suite struct ScheduleFreeAdamWKernelTests {
    static let variants: [KernelVariant] = [
        .scheduleFreeAdamW("schedule-free defaults (ckp1 1, 1/2, 1/3: both lerp forms)"),
        .scheduleFreeAdamW("schedule-free weight decay 0.1, lr 1e-2", lr: 1e-2, weightDecay: 0.1),
        .scheduleFreeAdamW("schedule-free warmup 2 steps, r 1, weight_lr_power 1", lr: 1e-2, warmupSteps: 2, r: 1, weightLRPower: 1),
        .scheduleFreeAdamW("schedule-free steps 11-13 (z read from its buffer), warmup 20, betas (0.95, 0.99), wd 0.01",
                           lr: 1e-2, beta1: 0.95, beta2: 0.99, weightDecay: 0.01, warmupSteps: 20, fromStep: 11),
        .scheduleFreeAdamW("schedule-free beta1 0.5, weight_lr_power 0, eps 1e-4", beta1: 0.5, eps: 1e-4, weightLRPower: 0),
    ]

    @Test("the first step starts z as a copy of the parameters, whatever its buffer holds", arguments: InstructionSet.runnable)
    func firstStepCopiesParametersIntoZ(isa: InstructionSet) {
        let n = 11
        let params = (0..<n).map { Float($0) * 0.25 - 1 }
        let grads = (0..<n).map { Float($0 % 4) * 0.5 - 0.75 }
        let first = ScalarReference.scheduleFreeScalars(lr: 1e-2, warmupSteps: 0, r: 0, weightLRPower: 2, step: 1)
        #expect(first.ckp1 == 1)
        let y = AlignedBuffer(params), g = AlignedBuffer(grads)
        let z = AlignedBuffer(count: n, filledWith: 123), v = AlignedBuffer(count: n)
        _ = LaneRule.scheduleFreeAdamW(ScheduleFreeAdamW(lr: first.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0,
                                                         ckp1: first.ckp1, step: 1))
            .update(LaneBuffers(params: y.pointer, grads: g.pointer, state: [z.pointer, v.pointer]), gradScale: 1, range: 0..<n, on: isa)
        // With ckp1 = 1 the lerp lands on z = y, and y and z take the same step -lr*gn.
        #expect(z.array == y.array)
        #expect(y.array != params)
        let harness = KernelHarness.kernel(KernelVariant.scheduleFreeAdamW("sf", lr: 1e-2).on(isa), params: params, grads: [grads])
        #expect(harness.params == y.array && harness.state[0] == z.array && harness.state[1] == v.array)
    }

    @Test("after the first step y leaves z: y = lerp(y, z, ckp1) + lr*(b1*(1-ckp1) - 1)*gn, z = z - lr*gn")
    func laterStepsSeparateYFromZ() {
        let (params, grads) = KernelHarness.inputs(length: 19)
        let run = KernelHarness.kernel(Self.variants[0], params: params, grads: Array(grads.prefix(2)))
        #expect(zip(run.params, run.state[0]).allSatisfy { $0 != $1 })
    }

    @Test("the evaluation point is ATen's lerp(y, z, 1 - 1/b1), in either form of the weight",
          arguments: [0.9, 0.6, 0.95])
    func evalPointIsLerp(beta1: Double) {
        // 1 - 1/0.9 = -0.11 (|w| < 0.5), 1 - 1/0.6 = -0.67 (the other form).
        let n = 37
        let y = TestRandom.values(count: n, seed: 21, scale: 2), z = TestRandom.values(count: n, seed: 22, scale: 2)
        let range = 3..<n
        var out = [Float](repeating: .nan, count: range.count)
        y.withUnsafeBufferPointer { yp in
            z.withUnsafeBufferPointer { zp in
                out.withUnsafeMutableBufferPointer { op in
                    ScheduleFreeAdamW.evalPoint(y: yp.baseAddress!, z: zp.baseAddress!, beta1: beta1, range: range, into: op.baseAddress!)
                }
            }
        }
        let want = range.map { ScalarReference.fusedLerp(y[$0], z[$0], 1 - 1 / beta1) }
        let d = FloatComparison.firstBitDifference(out, want)
        #expect(d == nil, "beta1 \(beta1): \(d ?? "")")
    }
}
