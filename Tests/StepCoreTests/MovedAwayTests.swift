import StepCore
import StepJSON
import Testing

@Suite struct MovedAwayTests {
    static func record(_ id: String, at ms: Int64) -> MovedAway {
        MovedAway(id: id, to: MoveTarget("http://n2:8080")!, tenant: nil, unixMillis: ms)
    }

    @Test func retentionForgetsWhatIsTooOldThenTheOldestBeyondKeep() {
        let r = MovedAway.Retention(keep: 2, maxAgeMillis: 100)
        let records = [Self.record("a", at: 1000), Self.record("b", at: 950), Self.record("c", at: 990), Self.record("old", at: 800)]
        #expect(Set(r.expired(records, now: 1000)) == ["old", "b"])
        #expect(r.expired(records.prefix(2), now: 1000).isEmpty)
        #expect(MovedAway.Retention(keep: 0, maxAgeMillis: 100).expired(records, now: 1000).count == 4)
    }

    @Test func aRecordRoundTripsThroughItsJSON() throws {
        let r = MovedAway(id: "s", to: MoveTarget("https://n3:8443/")!, tenant: "team-a", unixMillis: 1_780_000_000_123)
        #expect(try MovedAway(id: "s", json: try JSONParser.parse(r.json.text)) == r)
        #expect(r.to.base == "https://n3:8443", "a trailing slash is dropped")
    }
}
