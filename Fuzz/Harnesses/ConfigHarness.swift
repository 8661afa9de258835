import StepHTTP
import StepHTTPTesting
import StepCore
import StepJSON

/// `SessionConfig.parse` on the input as a JSON document. A config that parses must survive its
/// own round trip (`config.json` is what GET shows and what every snapshot and checkpoint
/// stores: restore parses it again) and a merge patch of its patchable parts.
enum ConfigHarness {
    static func run(_ data: UnsafeRawBufferPointer) {
        guard let json = try? JSONParser.parse(data) else { return }
        let config: SessionConfig
        do { (config, _) = try SessionConfig.parse(json) } catch { return }
        _ = config.residentBytes
        let stored = config.json
        let again: SessionConfig
        do { (again, _) = try SessionConfig.parse(stored) } catch {
            fatalError("a valid config's own JSON does not parse back: \(error)\nconfig.json: \(stored.text)")
        }
        precondition(again.layout == config.layout, "the round trip changed the layout: \(stored.text)")
        precondition(again.json == stored, "the round trip changed the config: \(stored.text) became \(again.json.text)")
        if case .object(let o) = json {
            let patch = JSONObject(o.pairs.filter { SessionConfig.patchableKeys.contains($0.key) }.map { ($0.key, $0.value) })
            _ = try? config.patched(with: .object(patch))
        }
    }
}
