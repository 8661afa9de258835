import StepJSON
import Testing
@testable import StepCore

/// Schedules are validated with the session config; every refusal names the field.
@Suite struct ScheduleParseTests {
    static func parse(_ schedule: String) throws {
        _ = try Fixture.config(Fixture.adamw(extra: #", "schedule": \#(schedule)"#))
    }

    @Test("an unknown type is refused, naming the allowed ones")
    func unknownTypeNamesAllowed() {
        expectInvalid(field: "schedule.type", mentioning: ["cosine_annealing"] + LearningRateSchedules.types) {
            try Self.parse(#"{"type": "cosine_annealing"}"#)
        }
    }

    @Test("warmup_cosine and warmup_linear require total_steps", arguments: ["warmup_cosine", "warmup_linear"])
    func missingTotalSteps(type: String) {
        expectInvalid(field: "schedule.total_steps", mentioning: ["required"]) {
            try Self.parse(#"{"type": "\#(type)", "warmup_steps": 10}"#)
        }
    }

    @Test("total_steps below warmup_steps is refused")
    func totalBelowWarmup() {
        expectInvalid(field: "schedule.total_steps", mentioning: ["5"]) {
            try Self.parse(#"{"type": "warmup_cosine", "warmup_steps": 10, "total_steps": 5}"#)
        }
    }

    @Test("min_lr_ratio outside [0, 1] is refused", arguments: ["1.5", "-0.1"])
    func minLRRatioOutOfRange(value: String) {
        expectInvalid(field: "schedule.min_lr_ratio", mentioning: [value == "1.5" ? "1.5" : "-0.1", "[0, 1]"]) {
            try Self.parse(#"{"type": "warmup_cosine", "total_steps": 100, "min_lr_ratio": \#(value)}"#)
        }
    }

    @Test("an unknown field in a schedule is refused, naming it and the closest known one")
    func unknownFieldNamed() {
        expectInvalid(field: "schedule.warmup_step", mentioning: [#"did you mean "warmup_steps""#]) {
            try Self.parse(#"{"type": "warmup_cosine", "warmup_step": 10, "total_steps": 100}"#)
        }
        expectInvalid(field: "schedule.gamma", mentioning: ["unknown field"]) {
            try Self.parse(#"{"type": "constant", "gamma": 0.5}"#)
        }
    }

    @Test("step and exponential require their parameters, and refuse gamma <= 0")
    func requiredParameters() {
        expectInvalid(field: "schedule.step_size") { try Self.parse(#"{"type": "step", "gamma": 0.5}"#) }
        expectInvalid(field: "schedule.gamma") { try Self.parse(#"{"type": "exponential"}"#) }
        expectInvalid(field: "schedule.gamma", mentioning: ["0"]) { try Self.parse(#"{"type": "exponential", "gamma": 0}"#) }
        expectInvalid(field: "schedule.step_size") { try Self.parse(#"{"type": "step", "step_size": 0}"#) }
    }

    @Test("negative warmup_steps and inverse_sqrt without warmup are refused")
    func warmupBounds() {
        expectInvalid(field: "schedule.warmup_steps", mentioning: ["-1"]) {
            try Self.parse(#"{"type": "constant_with_warmup", "warmup_steps": -1}"#)
        }
        expectInvalid(field: "schedule.warmup_steps") { try Self.parse(#"{"type": "inverse_sqrt", "warmup_steps": 0}"#) }
        expectInvalid(field: "schedule.warmup_steps", mentioning: ["integer"]) {
            try Self.parse(#"{"type": "constant_with_warmup", "warmup_steps": 2.5}"#)
        }
    }
}
