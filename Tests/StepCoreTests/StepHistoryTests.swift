import Testing
@testable import StepCore

@Suite struct StepHistoryTests {
    static func record(_ step: Int, loss: Double? = nil) -> StepRecord {
        StepRecord(step: step, lr: 0.1, gradNorm: 1, clipCoef: 1, clipped: false, skipped: false,
                   loss: loss, updateNorm: 0.01, paramNorm: 1, time: Double(step))
    }

    @Test("the ring buffer keeps the newest `capacity` records, oldest first")
    func keepsNewest() {
        var h = StepHistory(capacity: 3)
        #expect(h.last().isEmpty)
        for i in 1...7 { h.append(Self.record(i)) }
        #expect(h.count == 3)
        #expect(h.total == 7)
        #expect(h.last().map { $0.step } == [5, 6, 7])
        #expect(h.last(2).map { $0.step } == [6, 7])
        #expect(h.last(0).isEmpty)
        #expect(h.last(100).map { $0.step } == [5, 6, 7])
    }

    @Test("exactly at capacity, and wrapping more than once, keeps order", arguments: [3, 6, 10, 31])
    func wrapsInOrder(appends: Int) {
        var h = StepHistory(capacity: 3)
        for i in 1...appends { h.append(Self.record(i)) }
        #expect(h.last().map { $0.step } == Array((appends - 2)...appends))
    }

    @Test("resizing keeps the newest records and the total")
    func resize() {
        var h = StepHistory(capacity: 4)
        for i in 1...6 { h.append(Self.record(i)) }
        let smaller = h.resized(to: 2)
        #expect(smaller.last().map { $0.step } == [5, 6])
        #expect(smaller.total == 6)
        var larger = h.resized(to: 10)
        #expect(larger.last().map { $0.step } == [3, 4, 5, 6])
        larger.append(Self.record(7))
        #expect(larger.count == 5)
    }

    @Test("records(after:) gives what was appended since a count, bounded by what is kept")
    func recordsAfterCount() {
        var h = StepHistory(capacity: 4)
        for i in 1...6 { h.append(Self.record(i)) }
        #expect(h.records(after: 4).map { $0.step } == [5, 6])
        #expect(h.records(after: 5).map { $0.step } == [6])
        #expect(h.records(after: 6).isEmpty)
        #expect(h.records(after: 60).isEmpty)
        // Records 1 and 2 fell off the front: only the kept four come back.
        #expect(h.records(after: 0).map { $0.step } == [3, 4, 5, 6])
        #expect(h.records(after: -3).map { $0.step } == [3, 4, 5, 6])
    }

    @Test("a session's history page counts a skipped request, which keeps its step number")
    func historyPageAfterSkipped() throws {
        let s = try Fixture.session(Fixture.adamw())
        _ = try s.step(grads: Fixture.grads(0), loss: 1)
        let first = s.historyPage()
        #expect(first.total == 1)
        _ = try s.step(grads: Fixture.grads(0).mapValues { $0.map { _ in Double.nan } }, loss: 1)
        _ = try s.step(grads: Fixture.grads(1), loss: 0.5)
        let next = s.historyPage(after: first.total)
        #expect(next.total == 3)
        #expect(next.records.map { $0.step } == [1, 2])
        #expect(next.records.map { $0.skipped } == [true, false])
        #expect(next.health.status == .nonfinite)
        #expect(s.historyPage(after: 1, last: 1).records.map { $0.step } == [2])
        #expect(s.historyPage(after: 3).records.isEmpty)
    }

    @Test("capacity is at least 1")
    func capacityAtLeastOne() {
        var h = StepHistory(capacity: 0)
        h.append(Self.record(1))
        h.append(Self.record(2))
        #expect(h.capacity == 1)
        #expect(h.last().map { $0.step } == [2])
    }

    @Test("a session's history honours history.capacity and records each step")
    func sessionHistoryCapacity() throws {
        let s = try Fixture.session(Fixture.adamw(extra: #", "history": {"capacity": 3}"#))
        for k in 0..<5 { _ = try s.step(grads: Fixture.grads(k), loss: Double(10 - k)) }
        let h = s.historyRecords()
        #expect(h.map { $0.step } == [3, 4, 5])
        #expect(h.map { $0.loss } == [8, 7, 6])
        #expect(h.allSatisfy { $0.lr == 0.01 && !$0.skipped && $0.gradNorm != nil && $0.updateNorm > 0 && $0.paramNorm > 0 })
        #expect(s.historyRecords(last: 1).map { $0.step } == [5])
    }

    @Test("a record survives a JSON round trip")
    func recordJSONRoundTrip() throws {
        let r = StepRecord(step: 4, lr: 0.001, gradNorm: nil, clipCoef: 0.5, clipped: true, skipped: true,
                           loss: 2.25, updateNorm: 0.125, paramNorm: 3, time: 1_700_000_000.5)
        #expect(try StepRecord(json: r.json) == r)
        #expect(r.json["update_ratio"] == .number(0.125 / 3))
    }
}
