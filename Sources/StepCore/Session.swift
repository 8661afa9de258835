import Foundation
import StepJSON
import StepKernels

/// One training run's optimizer: config, master parameters, optimizer state, step counter and
/// history, behind one lock. Steps of a session are serialized; different sessions run in
/// parallel. Every mutating method either applies completely or throws having changed nothing.
public final class Session: @unchecked Sendable {
    public let id: String
    /// The tenant that owns the session (nil: none, only admins see it). StepCore does not
    /// interpret it; it is fixed at creation and travels with every capture, so a snapshot
    /// restores the owner along with the state.
    public let tenant: String?
    public let parallel: Parallel
    private let lock = NSLock()
    private var _config: SessionConfig
    private let state: OptimizerState
    private var _step = 0
    private var history: StepHistory
    /// The session's own gradient buffer (counted in `SessionConfig.residentBytes`) while no
    /// upload holds it. A concurrent upload to the same session gets an extra buffer, drawn
    /// from `budget`.
    private var spareGradients: AlignedBuffer?
    private var gradientBufferLent = false
    /// The server's memory limit, set by the registry that holds this session; nil (no limit
    /// on extra buffers) for sessions used directly.
    private var budget: ByteBudget?
    private var pending: PendingAccumulation?
    /// A gradient stored by `prepare`, waiting for `commit`; it holds its upload's buffer.
    private var prepared: PreparedStep?
    private var idempotency = IdempotencyCache(capacity: 1024)
    private var _version: UInt64 = 0
    /// Bumped whenever parameter values change (a step, a PUT): a streamed download that sees
    /// it move stops rather than send a mix of two steps.
    private var paramsVersion: UInt64 = 0
    private var lastParamNorm: Double = 0
    /// Set once, when the registry drops this session (DELETE, or a checkpoint PUT replacing
    /// it). From then on every change is refused and no snapshot of it is taken, so a request
    /// still uploading when its session went away can neither be applied nor write the session
    /// back to disk.
    private var retired = false
    /// The base URL of the server this session is being moved to (`beginMove`): from then on
    /// every change is refused with `.moving`, so the checkpoint taken for the move stays the
    /// whole truth. Reads and snapshots go on. The data directory keeps it too
    /// (`SessionPersistence.moveChanged`), so a restart mid-move does not thaw the session.
    private var _movingTo: MoveTarget?

    public init(id: String, config: SessionConfig, inits: [ParamInit], tenant: String? = nil, parallel: Parallel = .machine) {
        self.id = id
        self.tenant = tenant
        self.parallel = parallel
        _config = config
        state = OptimizerState(config: config, inits: inits)
        history = StepHistory(capacity: config.historyCapacity)
        lastParamNorm = GradientNorm.sumOfSquares(state.params.pointer, count: config.layout.count, parallel: parallel).squareRoot()
    }

    /// Rebuilds a session from a snapshot or checkpoint, checking the buffers fit the config.
    public convenience init(restoring image: SessionImage, parallel: Parallel = .machine) throws(SessionError) {
        let config = image.config
        let n = config.layout.count
        guard image.state.params.count == n else {
            throw .invalid(field: "params", detail: "parameter buffer has \(image.state.params.count) values, the config declares \(n)")
        }
        let stateLayout = config.stateLayout
        guard image.state.layout == stateLayout else {
            throw .invalid(field: "state", detail: "the optimizer state is not laid out as the config's state_dtype says")
        }
        for role in config.stateNames {
            let bytes = stateLayout.role(role)!.byteCount
            guard let b = image.state.buffer(role) else { throw .invalid(field: "state", detail: "missing optimizer state \"\(role)\"") }
            guard b.byteCount >= bytes else {
                throw .invalid(field: "state", detail: "state \"\(role)\" has \(b.byteCount) bytes, expected \(bytes)")
            }
        }
        for (group, values) in image.state.scalars {
            let scalarCount = config.groups.first(where: { $0.name == group })?.kind.scalars.count
            guard values.count == scalarCount else {
                throw .invalid(field: "optimizer_scalars.\(group)", detail: "expected the scalars of a group of this config (\(scalarCount.map(String.init) ?? "no such group"))")
            }
        }
        self.init(id: image.id, config: config, state: image.state, tenant: image.tenant, parallel: parallel,
                  lastParamNorm: image.history.last?.paramNorm)
        _step = image.step
        history = StepHistory(capacity: config.historyCapacity, records: image.history, total: image.historyTotal)
        _version = image.version
        if let p = image.pending {
            let acc = config.accumulation
            guard acc.contributions > 1, p.sum.count == n else {
                throw .invalid(field: "accumulation", detail: "pending contributions do not fit this session's accumulation or size")
            }
            guard p.seen.count < acc.contributions, Set(p.seen).count == p.seen.count, p.losses.count <= p.seen.count,
                  p.seen.allSatisfy({ (0..<acc.workers).contains($0.worker) && (0..<acc.microBatches).contains($0.microBatch) }) else {
                throw .invalid(field: "accumulation.seen", detail: "pending contributions must be distinct [worker, micro_batch] pairs within \(acc.workers) workers × \(acc.microBatches) micro-batches, fewer than \(acc.contributions), with at most one loss each")
            }
            pending = PendingAccumulation(p)
        }
    }

    /// `lastParamNorm`: the history's last record's, when there is one (then the parameters need
    /// not be read again).
    private init(id: String, config: SessionConfig, state: OptimizerState, tenant: String?, parallel: Parallel, lastParamNorm: Double?) {
        self.id = id
        self.tenant = tenant
        self.parallel = parallel
        _config = config
        self.state = state
        history = StepHistory(capacity: config.historyCapacity)
        self.lastParamNorm = lastParamNorm
            ?? GradientNorm.sumOfSquares(state.params.pointer, count: config.layout.count, parallel: parallel).squareRoot()
    }

    @inline(__always)
    private func locked<R>(_ body: () throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    public var config: SessionConfig { locked { _config } }
    public var layout: TensorLayout { locked { _config.layout } }
    public var step: Int { locked { _step } }
    /// Bumped by every change; a snapshot is due when it differs from the last one written.
    public var version: UInt64 { locked { _version } }
    public var parameterCount: Int { state.params.count }
    public var isRetired: Bool { locked { retired } }

    /// Marks the session as gone. Waits for a change in progress to finish, so once this
    /// returns no change can land on it any more.
    public func retire() {
        locked {
            retired = true
            dropPreparedLocked()
        }
    }

    private func checkLive() throws(SessionError) {
        if retired { throw .retired(id: id) }
        if let to = _movingTo { throw .moving(id: id, to: to.base) }
    }

    public var movingTo: MoveTarget? { locked { _movingTo } }

    /// Freezes the session for a move to the server at `to`: changes are refused from now on,
    /// and a change in progress finishes first. Moving again (to the same or another place)
    /// is allowed: a client retrying a move that failed halfway starts over.
    public func beginMove(to target: MoveTarget) throws(SessionError) {
        lock.lock()
        defer { lock.unlock() }
        if retired { throw .retired(id: id) }
        _movingTo = target
    }

    /// Thaws a session whose move was abandoned (the copy could not be placed).
    public func cancelMove() { locked { _movingTo = nil } }
    public var byteCount: Int { state.byteCount }

    // MARK: Steps

    /// Makes extra buffers (concurrent uploads, parameter copies) count against `budget`.
    public func drawExtraBuffers(from budget: ByteBudget) { locked { self.budget = budget } }

    /// A buffer to receive one step's gradients: raw bytes of `dtype`, or named tensors if nil.
    /// The session's own buffer if it is free; otherwise an extra one, refused with `.busy` when
    /// it would take the server past its memory limit.
    public func beginUpload(dtype: GradientDType? = nil) throws(SessionError) -> GradientUpload {
        lock.lock()
        let layout = _config.layout
        if !gradientBufferLent {
            gradientBufferLent = true
            let buffer = spareGradients ?? AlignedBuffer(count: layout.count)
            spareGradients = nil
            lock.unlock()
            return GradientUpload(layout: layout, buffer: buffer, dtype: dtype, lease: .session(self))
        }
        let budget = self.budget
        lock.unlock()
        return GradientUpload(layout: layout, buffer: try extraBuffer(count: layout.count, budget: budget, for: "a concurrent upload"),
                              dtype: dtype, lease: budget.map { .budget($0, layout.count * 4) } ?? .none)
    }

    private func extraBuffer(count: Int, budget: ByteBudget?, for what: String) throws(SessionError) -> AlignedBuffer {
        if let budget, !budget.reserve(count * 4) {
            throw .busy("\(what) to session \"\(id)\" needs a \(count * 4)-byte buffer, and the server's memory limit (--max-param-bytes, \(budget.limit) bytes) is taken by sessions and requests in flight (\(budget.inUse) bytes); retry when they finish")
        }
        return AlignedBuffer(count: count)
    }

    /// An upload holding the session's own buffer ended without a step (refused, abandoned).
    func takeBack(_ buffer: AlignedBuffer) {
        locked {
            spareGradients = buffer
            gradientBufferLent = false
        }
    }

    /// Applies (or, with accumulation, counts) an upload.
    /// - Parameters:
    ///   - expectedStep: from `If-Match`; the request is refused if the session is elsewhere.
    ///   - idempotencyKey: a retry with a key already applied gets the first answer back.
    ///   - basedOn: the step of the parameters the gradient was computed from, checked against
    ///     `max_staleness` and recorded.
    public func submit(_ upload: GradientUpload, loss: Double? = nil, contribution: Contribution? = nil,
                       expectedStep: Int? = nil, idempotencyKey: String? = nil, basedOn: Int? = nil) throws(SessionError) -> StepOutcome {
        lock.lock()
        defer {
            if upload.returnsToSession(self) {
                spareGradients = upload.buffer
                gradientBufferLent = false
            }
            lock.unlock()
        }
        try checkLive()
        if let key = idempotencyKey, var earlier = idempotency[key] {
            earlier.replayed = true
            return earlier
        }
        if let expectedStep, expectedStep != _step { throw .stale(expected: expectedStep, current: _step) }
        try checkNoPreparedLocked()
        let staleness = try stalenessLocked(basedOn)
        try upload.validate()
        let outcome: StepOutcome
        let acc = _config.accumulation
        if acc.contributions == 1 {
            if contribution != nil, contribution != Contribution(worker: 0, microBatch: 0) {
                throw .invalid(field: "micro_batch", detail: "this session does not accumulate (accumulation.micro_batches × workers = 1)")
            }
            outcome = try applyLocked(upload.buffer.pointer, scale: 1, loss: loss, sumOfSquares: upload.sumOfSquares, staleness: staleness)
        } else {
            outcome = try accumulateLocked(upload, loss: loss, contribution: contribution)
        }
        if let key = idempotencyKey { idempotency[key] = outcome }
        return outcome
    }

    /// Convenience for callers holding whole tensors (JSON bodies, the conformance runner).
    public func step(grads: [String: [Double]], loss: Double? = nil, contribution: Contribution? = nil,
                     expectedStep: Int? = nil, idempotencyKey: String? = nil, basedOn: Int? = nil) throws(SessionError) -> StepOutcome {
        let upload = try beginUpload()
        for (name, values) in grads.sorted(by: { $0.key < $1.key }) {
            try upload.set(name, values: values, field: "grads.\(name)")
        }
        return try submit(upload, loss: loss, contribution: contribution, expectedStep: expectedStep, idempotencyKey: idempotencyKey, basedOn: basedOn)
    }

    /// How far behind `basedOn` is, refused past `max_staleness`.
    private func stalenessLocked(_ basedOn: Int?) throws(SessionError) -> Int? {
        guard let basedOn else { return nil }
        guard basedOn >= 0, basedOn <= _step else {
            throw .invalid(field: "based_on", detail: "must be a step this session has reached (0...\(_step)), got \(basedOn)")
        }
        let staleness = _step - basedOn
        if let k = _config.maxStaleness, staleness > k { throw .tooStale(basedOn: basedOn, current: _step, maxStaleness: k) }
        return staleness
    }

    // MARK: Two-phase steps (one model over several servers)

    /// Stores a gradient without applying it and answers its per-tensor sums of squares, so a
    /// client holding the other tensors on other servers can add up the global norm (in
    /// declared order: `GradientNorm.total`) and `commit` it everywhere. Until then other steps
    /// are refused; a prepared step not committed within `ttl` seconds is dropped. A retry
    /// with the same `idempotencyKey` gets the same answer.
    public func prepare(_ upload: GradientUpload, loss: Double? = nil, expectedStep: Int? = nil, idempotencyKey: String? = nil,
                        basedOn: Int? = nil, ttl: Double = Session.preparedTTL) throws(SessionError) -> PreparedStep {
        lock.lock()
        defer {
            if prepared?.upload !== upload, upload.returnsToSession(self) {
                spareGradients = upload.buffer
                gradientBufferLent = false
            }
            lock.unlock()
        }
        try checkLive()
        expirePreparedLocked()
        if let p = prepared, let key = idempotencyKey, p.idempotencyKey == key { return p }
        if let expectedStep, expectedStep != _step { throw .stale(expected: expectedStep, current: _step) }
        try checkNoPreparedLocked()
        guard _config.accumulation.contributions == 1 else {
            throw .invalid(field: "prepare", detail: "a two-phase step is for sessions that do not accumulate (accumulation.micro_batches × workers = 1)")
        }
        let staleness = try stalenessLocked(basedOn)
        try upload.validate()
        let sums = upload.tensorSums ?? GradientNorm.tensorSums(upload.buffer.pointer, counts: _config.layout.counts, parallel: parallel)
        let finite = GradientNorm.total(sums).isFinite
        if !finite, _config.nonFinite == .error {
            throw .nonFinite("the gradients hold NaN or Inf; nothing was stored (nonfinite: \"error\")")
        }
        // The upload's lease on the session's own buffer is taken off here: held by `prepared`,
        // a lease naming the session would make a cycle that outlives the session.
        let ownsBuffer = upload.returnsToSession(self)
        let p = PreparedStep(step: _step, tensorSums: Array(zip(_config.layout.tensors.map(\.name), sums)), finite: finite, loss: loss,
                             staleness: staleness, idempotencyKey: idempotencyKey, expires: ProcessInfo.processInfo.systemUptime + ttl,
                             ttl: ttl, upload: upload, ownsSessionBuffer: ownsBuffer)
        prepared = p
        return p
    }

    /// Applies the prepared step with the global gradient norm `norm` (of every tensor on every
    /// server), or records it as skipped (`norm` nil: a gradient on some server was not finite),
    /// exactly as one server holding the whole model would have.
    public func commit(norm: Double?) throws(SessionError) -> StepOutcome {
        lock.lock()
        defer { lock.unlock() }
        try checkLive()
        expirePreparedLocked()
        guard let p = prepared else {
            throw .conflict("session \"\(id)\" has no prepared step (it was committed, aborted or expired, or the server restarted); prepare it again")
        }
        if let norm {
            guard norm.isFinite, norm >= 0 else { throw .invalid(field: "norm", detail: "must be a finite number >= 0, got \(norm)") }
            guard p.finite else {
                throw .invalid(field: "norm", detail: "this server's part of the gradient holds NaN or Inf; commit with {\"skip\": true} or abort")
            }
        }
        defer { dropPreparedLocked() }
        return try applyLocked(p.upload.buffer.pointer, scale: 1, loss: p.loss, sumOfSquares: norm == nil ? .nan : nil,
                               globalNorm: norm, staleness: p.staleness)
    }

    /// Drops the prepared step, if any, without a trace; true if there was one.
    @discardableResult
    public func abortPrepared() -> Bool {
        locked {
            expirePreparedLocked()
            defer { dropPreparedLocked() }
            return prepared != nil
        }
    }

    /// Seconds a prepared step waits for its commit.
    public static let preparedTTL = 60.0

    private func checkNoPreparedLocked() throws(SessionError) {
        expirePreparedLocked()
        if let p = prepared {
            throw .conflict("step \(p.step + 1) of session \"\(id)\" is prepared and waits for its commit (or abort, or expiry within \(Int(p.ttl)) s); no other step may be applied first")
        }
    }

    private func expirePreparedLocked() {
        if let p = prepared, ProcessInfo.processInfo.systemUptime >= p.expires { dropPreparedLocked() }
    }

    /// Under the lock: the session's own buffer goes straight back to it.
    private func dropPreparedLocked() {
        guard let p = prepared else { return }
        prepared = nil
        if p.ownsSessionBuffer {
            spareGradients = p.upload.buffer
            gradientBufferLent = false
        }
    }

    private func accumulateLocked(_ upload: GradientUpload, loss: Double?, contribution: Contribution?) throws(SessionError) -> StepOutcome {
        let acc = _config.accumulation
        let n = _config.layout.count
        var p = pending ?? PendingAccumulation(count: n)
        let c: Contribution
        if let contribution {
            c = contribution
        } else if acc.workers == 1 {
            c = Contribution(worker: 0, microBatch: (0..<acc.microBatches).first { !p.seen.contains(Contribution(worker: 0, microBatch: $0)) } ?? 0)
        } else {
            throw .invalid(field: "worker", detail: "is required: this session accumulates over \(acc.workers) workers (give worker and micro_batch)")
        }
        guard (0..<acc.workers).contains(c.worker) else {
            throw .invalid(field: "worker", detail: "must be in 0..<\(acc.workers), got \(c.worker)")
        }
        guard (0..<acc.microBatches).contains(c.microBatch) else {
            throw .invalid(field: "micro_batch", detail: "must be in 0..<\(acc.microBatches), got \(c.microBatch)")
        }
        guard !p.seen.contains(c) else {
            throw .conflict("worker \(c.worker) micro_batch \(c.microBatch) was already counted for step \(_step + 1) (\(p.seen.count) of \(acc.contributions) in)")
        }
        let finite = (upload.sumOfSquares ?? GradientNorm.sumOfSquares(upload.buffer.pointer, count: n, parallel: parallel)).isFinite
        if !finite, _config.nonFinite == .error {
            throw .nonFinite("the gradient of worker \(c.worker) micro_batch \(c.microBatch) holds NaN or Inf; it was not counted")
        }
        Accumulate.add(upload.buffer.pointer, into: p.sum.pointer, count: n, parallel: parallel)
        p.seen.insert(c)
        p.finite = p.finite && finite
        if let loss { p.losses.append(loss) }
        _version &+= 1
        if p.seen.count < acc.contributions {
            pending = p
            return StepOutcome(step: _step, applied: false, record: nil, groupLRs: [], accumulated: p.seen.count, needed: acc.contributions)
        }
        let meanLoss = p.losses.isEmpty ? nil : p.losses.reduce(0, +) / Double(p.losses.count)
        var outcome: StepOutcome
        do {
            outcome = try applyLocked(p.sum.pointer, scale: 1 / Double(acc.contributions), loss: meanLoss)
        } catch {
            pending = p
            throw error
        }
        outcome.accumulated = acc.contributions
        p.reset()
        pending = p
        return outcome
    }

    /// The step itself: norm and finiteness in one read (or taken already as a raw body arrived,
    /// `sumOfSquares`: the same chunks in the same order, so the same bits), then the fused
    /// update per group.
    ///
    /// The norm is the sum of per-tensor sums in declared order (`GradientNorm.tensorSums`), or
    /// `globalNorm`, the whole model's over several servers, summed the same way by a client.
    private func applyLocked(_ grads: UnsafePointer<Float>, scale: Double, loss: Double?,
                             sumOfSquares: Double? = nil, globalNorm: Double? = nil, staleness: Int? = nil) throws(SessionError) -> StepOutcome {
        let config = _config
        let sumSq = sumOfSquares ?? GradientNorm.total(GradientNorm.tensorSums(grads, counts: config.layout.counts, parallel: parallel))
        let t = _step
        let lrs = config.groups.indices.map { config.lr(group: $0, step: t) }
        let now = Date().timeIntervalSince1970
        let needed = config.accumulation.contributions
        guard sumSq.isFinite else {
            if config.nonFinite == .error {
                throw .nonFinite("the gradients hold NaN or Inf; nothing was applied (nonfinite: \"error\")")
            }
            var record = StepRecord(step: t, lr: lrs[0], gradNorm: nil, clipCoef: 1, clipped: false, skipped: true,
                                    loss: loss, updateNorm: 0, paramNorm: lastParamNorm, time: now)
            record.staleness = staleness
            history.append(record)
            _version &+= 1
            return StepOutcome(step: t, applied: true, record: record, groupLRs: named(lrs), accumulated: needed, needed: needed)
        }
        let norm = globalNorm ?? sumSq.squareRoot() * scale
        let coef = config.clipMaxNorm.map { min(1, $0 / (norm + 1e-6)) } ?? 1
        let step = t + 1
        var scalars = state.scalars
        let rules = config.groups.indices.map { g in
            let group = config.groups[g]
            var carried = scalars[group.name] ?? group.kind.scalars.map(\.initial)
            let rule = group.kind.update(group.hyper, lr: lrs[g], step: step, scalars: &carried)
            if !carried.isEmpty { scalars[group.name] = carried }
            return rule
        }
        let baseScale = Float(scale) * Float(coef)
        let scales = config.groups.map { $0.hyper.maximize ? -baseScale : baseScale }
        let stats = update(grads, rules: rules, scales: scales, config: config)
        state.scalars = scalars
        _step = step
        _version &+= 1
        paramsVersion &+= 1
        lastParamNorm = stats.paramSquares.squareRoot()
        var record = StepRecord(step: step, lr: lrs[0], gradNorm: norm, clipCoef: coef, clipped: coef < 1, skipped: false,
                                loss: loss, updateNorm: stats.updateSquares.squareRoot(), paramNorm: lastParamNorm, time: now)
        record.staleness = staleness
        history.append(record)
        return StepOutcome(step: step, applied: true, record: record, groupLRs: named(lrs), accumulated: needed, needed: needed)
    }

    private func named(_ lrs: [Double]) -> [GroupLR] {
        zip(_config.groups, lrs).map { GroupLR(group: $0.name, lr: $1) }
    }

    /// Runs the elementwise rules over fixed chunks (the same chunks as the norm), then each
    /// tensor-level rule on its tensors in declared order, so the statistics sum in the same
    /// order whatever the thread count.
    private func update(_ grads: UnsafePointer<Float>, rules: [OptimizerUpdate], scales: [Float], config: SessionConfig) -> UpdateStats {
        let layout = config.layout
        var lanes: [(run: StateLayout.Run, rule: LaneRule, buffers: LaneBuffers)] = []
        for run in state.layout.runs {
            if case .lanes(let rule) = rules[run.group] {
                lanes.append((run, rule, state.laneBuffers(run, grads: grads, slots: config.groups[run.group].kind.slotNames)))
            }
        }
        var total = laneUpdate(lanes, scales: scales, count: layout.count)
        for (i, t) in layout.tensors.enumerated() where t.count > 0 {
            guard case .tensor(let rule) = rules[t.group] else { continue }
            let buffers = TensorBuffers(params: state.params.pointer + t.offset, grads: grads + t.offset, shape: t.shape,
                                        state: state.tensorState(i, slots: config.groups[t.group].kind.slotNames))
            total = total + rule.update(buffers, gradScale: scales[t.group], parallel: parallel)
        }
        return total
    }

    /// The elementwise part, over the state layout's runs of lane groups.
    private func laneUpdate(_ runs: [(run: StateLayout.Run, rule: LaneRule, buffers: LaneBuffers)], scales: [Float],
                            count n: Int) -> UpdateStats {
        guard !runs.isEmpty else { return UpdateStats() }
        let chunk = GradientNorm.chunk
        let chunks = (n + chunk - 1) / chunk
        return withUnsafeTemporaryAllocation(of: UpdateStats.self, capacity: max(chunks, 1)) { partial in
            let out = partial.baseAddress!
            parallel.forEachItem(count: chunks) { c in
                let lo = c * chunk, hi = min(n, lo + chunk)
                var s = UpdateStats()
                // First run that ends after lo.
                var a = 0, b = runs.count
                while a < b {
                    let m = (a + b) / 2
                    if runs[m].run.range.upperBound <= lo { a = m + 1 } else { b = m }
                }
                var k = a
                while k < runs.count, runs[k].run.range.lowerBound < hi {
                    let (run, rule, buffers) = runs[k]
                    if let r = run.part(of: lo..<hi) {
                        s = s + rule.update(buffers, gradScale: scales[run.group], range: r)
                    }
                    k += 1
                }
                out[c] = s
            }
            var total = UpdateStats()
            for c in 0..<chunks { total = total + out[c] }
            return total
        }
    }

    // MARK: Parameters

    /// Copies of the named tensors (all if nil), with the step they belong to; `view` names one
    /// of the optimizer's views of the parameters (ASGD's `average`, schedule-free's `eval`).
    public func readParams(names: [String]? = nil, view: String? = nil) throws(SessionError) -> (step: Int, tensors: [(TensorSpec, [Float])]) {
        lock.lock()
        defer { lock.unlock() }
        let specs = try select(names)
        try checkView(view)
        return (_step, specs.map { t in
            (t, [Float](unsafeUninitializedCapacity: t.count) { out, count in
                fill(t, view: view, floats: 0..<t.count, into: out.baseAddress!)
                count = t.count
            })
        })
    }

    /// A reader of the named tensors' raw float32 (all if nil), in declared order, that copies
    /// straight from the live buffer block by block as a socket drains: no per-request copy
    /// of the model. Each block is read under the session lock, and if the parameters change
    /// between blocks the reader throws, so a client gets the parameters of one step or an
    /// error, never a mix.
    public func paramsReader(names: [String]? = nil, view: String? = nil, dtype: GradientDType = .f32) throws(SessionError) -> ParamsReader {
        lock.lock()
        defer { lock.unlock() }
        try checkView(view)
        return ParamsReader(session: self, tensors: try select(names), view: view, step: _step, version: paramsVersion, dtype: dtype)
    }

    /// A view is one some group's optimizer has; the tensors of the other groups show their
    /// parameters in it.
    private func checkView(_ view: String?) throws(SessionError) {
        guard let view else { return }
        let kinds = _config.groups.map { $0.kind }
        guard !kinds.contains(where: { $0.views.contains(view) }) else { return }
        let views = kinds.flatMap { $0.views }
        let has = views.isEmpty ? "it has none" : "it has \(views.joined(separator: ", "))"
        let types = Set(kinds.map { "\"\($0.type)\"" }).sorted().joined(separator: ", ")
        throw .invalid(field: "view", detail: "\"\(view.prefix(40))\" is not a view of optimizer \(types); \(has)")
    }

    /// Writes floats `floats` (relative to the tensor) of `t`, or of its view, to `out`.
    private func fill(_ t: TensorSpec, view: String?, floats: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let range = (t.offset + floats.lowerBound)..<(t.offset + floats.upperBound)
        guard let view else {
            out.update(from: state.params.pointer + range.lowerBound, count: range.count)
            return
        }
        let state = self.state, group = _config.groups[t.group], kind = group.kind
        guard kind.views.contains(view) else {
            out.update(from: state.params.pointer + range.lowerBound, count: range.count)
            return
        }
        let tensor = _config.layout.tensors.firstIndex { $0.offset == t.offset && $0.name == t.name }!
        // The view sees this tensor's own elements: its parameters, and its state widened to
        // float32 (a role may be kept in another dtype, and holds only the pieces of the
        // tensors whose optimizer keeps it, so its offsets are not the parameters').
        withUnsafeTemporaryAllocation(of: Float.self, capacity: max(1, floats.count * kind.slotNames.count)) { tmp in
            var widened: [String: UnsafePointer<Float>] = [:]
            for (k, name) in kind.slotNames.enumerated() {
                let at = tmp.baseAddress! + k * floats.count
                if state.read(name, tensor: tensor, range: floats, into: at) {
                    widened[name] = UnsafePointer(at - floats.lowerBound)
                }
            }
            kind.fillView(view, group.hyper, step: _step, params: state.params.pointer + t.offset,
                          state: { widened[$0] }, range: floats, into: out)
        }
    }

    /// Copies `buffer.count` bytes (or fewer at the end) at `offset` of the concatenation of
    /// `tensors` (or their `view`), if the parameters are still at `version`.
    func readParams(_ tensors: [TensorSpec], view: String?, version: UInt64, at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(SessionError) -> Int {
        lock.lock()
        defer { lock.unlock() }
        guard version == paramsVersion else {
            throw .conflict("the parameters changed (now step \(_step)) while they were being sent; fetch them again")
        }
        var written = 0
        var start = 0
        for t in tensors {
            let bytes = t.count * 4
            defer { start += bytes }
            let from = max(offset + written, start), to = min(offset + buffer.count, start + bytes)
            guard from < to else { continue }
            let destination = buffer.baseAddress! + written
            if view == nil {
                destination.copyMemory(from: UnsafeRawPointer(state.params.pointer + t.offset) + (from - start), byteCount: to - from)
            } else {
                // Whole floats covering the bytes asked for, computed, then the bytes copied.
                let floats = ((from - start) / 4)..<((to - start + 3) / 4)
                withUnsafeTemporaryAllocation(of: Float.self, capacity: floats.count) { tmp in
                    fill(t, view: view, floats: floats, into: tmp.baseAddress!)
                    destination.copyMemory(from: UnsafeRawPointer(tmp.baseAddress!) + (from - start - floats.lowerBound * 4), byteCount: to - from)
                }
            }
            written += to - from
        }
        return written
    }

    private func select(_ names: [String]?) throws(SessionError) -> [TensorSpec] {
        let layout = _config.layout
        guard let names else { return layout.tensors }
        var out: [TensorSpec] = []
        for name in names {
            guard !out.contains(where: { $0.name == name }) else {
                throw .invalid(field: "names", detail: "tensor \"\(name.prefix(80))\" is named twice; each tensor may be asked for once")
            }
            guard let t = layout.tensor(named: name) else {
                throw .invalid(field: "names", detail: "unknown tensor \"\(name)\"; this session has \(layout.tensors.map(\.name).joined(separator: ", "))")
            }
            out.append(t)
        }
        return out
    }

    /// Replaces parameter values (loading pretrained weights); optimizer state is kept. Every
    /// tensor is checked before any is written.
    public func replaceParams(_ upload: GradientUpload, expectedStep: Int? = nil) throws(SessionError) -> Int {
        lock.lock()
        defer { lock.unlock() }
        try checkLive()
        if let expectedStep, expectedStep != _step { throw .stale(expected: expectedStep, current: _step) }
        try upload.validateForParams()
        let n = _config.layout.count
        let finite = (upload.sumOfSquares ?? GradientNorm.sumOfSquares(upload.buffer.pointer, count: n, parallel: parallel)).isFinite
        guard finite else { throw .invalid(field: "params", detail: "parameter values must be finite") }
        for t in upload.touchedTensors {
            (state.params.pointer + t.offset).update(from: upload.buffer.pointer + t.offset, count: t.count)
        }
        lastParamNorm = GradientNorm.sumOfSquares(state.params.pointer, count: n, parallel: parallel).squareRoot()
        _version &+= 1
        paramsVersion &+= 1
        return _step
    }

    /// An upload whose buffer starts as a copy of the parameters, so a partial PUT (some tensors
    /// by name) leaves the others as they are.
    public func beginParamsUpload(dtype: GradientDType? = nil) throws(SessionError) -> GradientUpload {
        let (layout, budget) = locked { (_config.layout, self.budget) }
        let buffer = try extraBuffer(count: layout.count, budget: budget, for: "a parameter upload")
        locked { buffer.pointer.update(from: state.params.pointer, count: layout.count) }
        return GradientUpload(layout: layout, buffer: buffer, dtype: dtype, lease: budget.map { .budget($0, layout.count * 4) } ?? .none)
    }

    // MARK: Config

    /// Changes hyperparameters mid-run (JSON merge patch over the config).
    public func patch(_ patch: JSONValue) throws(SessionError) -> SessionConfig {
        lock.lock()
        defer { lock.unlock() }
        try checkLive()
        let next = try _config.patched(with: patch)
        let have = Set(state.roles.map(\.name))
        for role in next.stateNames where !have.contains(role) {
            throw .invalid(field: "optimizer", detail: "the change needs optimizer state \"\(role)\" this session was not created with; set it at creation")
        }
        if next.historyCapacity != history.capacity { history = history.resized(to: next.historyCapacity) }
        state.convert(to: next.stateLayout)
        _config = next
        _version &+= 1
        return next
    }

    // MARK: Reading

    public func historyRecords(last n: Int? = nil) -> [StepRecord] { locked { history.last(n) } }

    /// Records after the first `after` appended (all kept if nil), of those the newest `last`,
    /// with `total` (records appended since this session was created or restored) and the
    /// verdict, read in one critical section so that `total` counts exactly the records a
    /// poller has then seen.
    public func historyPage(after: Int? = nil, last n: Int? = nil) -> (records: [StepRecord], total: Int, health: HealthVerdict) {
        locked {
            var records = after.map { history.records(after: $0) } ?? history.last()
            if let n { records = Array(records.suffix(max(0, n))) }
            return (records, history.total, HealthVerdict(history: history.last(200)))
        }
    }

    public func health() -> HealthVerdict { locked { HealthVerdict(history: history.last(200)) } }

    /// The next `count` learning rates per group, starting with the next step's.
    public func schedulePreview(_ count: Int) -> [[Double]] {
        locked {
            (0..<count).map { k in _config.groups.indices.map { _config.lr(group: $0, step: _step + k) } }
        }
    }

    public func summary() -> JSONValue {
        locked {
            var o = JSONObject()
            o["id"] = .string(id)
            o["step"] = .number(Double(_step))
            o["lr"] = .number(_config.lr(group: 0, step: _step))
            o["lrs"] = .object(JSONObject(_config.groups.indices.map { (_config.groups[$0].name, .number(_config.lr(group: $0, step: _step))) }))
            let last = history.last(1).first
            o["last_grad_norm"] = last?.gradNorm.map { .number($0) } ?? .null
            o["param_count"] = .number(Double(state.params.count))
            o["bytes"] = .number(Double(state.byteCount))
            o["health"] = HealthVerdict(history: history.last(200)).json
            if _config.accumulation.contributions > 1 {
                o["accumulated"] = .number(Double(pending?.seen.count ?? 0))
                o["needed"] = .number(Double(_config.accumulation.contributions))
            }
            o["config"] = _config.json
            return .object(o)
        }
    }

    /// A copy of the whole session, taken under the lock (the only time a snapshot holds it).
    public func capture(historyTail: Int = 1000) -> SessionImage {
        locked { captureLocked(historyTail: historyTail) }
    }

    /// A copy for a snapshot, or nil once the session is retired: the check and the copy are
    /// one critical section, so a snapshot write racing a DELETE cannot save the session again.
    public func captureIfLive(historyTail: Int = 1000) -> SessionImage? {
        locked { retired ? nil : captureLocked(historyTail: historyTail) }
    }

    private func captureLocked(historyTail: Int) -> SessionImage {
        SessionImage(id: id, config: _config, step: _step, state: state.copy(), history: history.last(historyTail),
                     historyTotal: history.total, version: _version, pending: pending?.captured, tenant: tenant)
    }

    // MARK: Copy-free snapshots (SessionSnapshot)

    /// Runs `body` under the lock with whether the session is retired.
    func withLock<R>(_ body: (_ retired: Bool) throws -> R) rethrows -> R {
        try locked { try body(retired) }
    }

    /// `captureLocked` without copying a buffer: the image's state and pending sum are the
    /// session's own buffers (the small parts are copies).
    func liveImageLocked(historyTail: Int) -> SessionImage {
        SessionImage(id: id, config: _config, step: _step,
                     state: OptimizerState(params: state.params, roles: state.roles, layout: state.layout, scalars: state.scalars),
                     history: history.last(historyTail), historyTotal: history.total, version: _version, pending: pending?.live,
                     tenant: tenant)
    }

    /// Runs `body` under the lock if the session is live and still at `version`.
    func whileAt<R>(version: UInt64, _ body: () throws -> R) throws -> R {
        lock.lock()
        defer { lock.unlock() }
        guard !retired, _version == version else { throw SessionSnapshot.Changed(id: id, version: version) }
        return try body()
    }
}

/// Answers already given, by Idempotency-Key, oldest forgotten first.
struct IdempotencyCache {
    let capacity: Int
    private var answers: [String: StepOutcome] = [:]
    private var order: [String] = []

    init(capacity: Int) { self.capacity = capacity }

    subscript(key: String) -> StepOutcome? {
        get { answers[key] }
        set {
            guard let newValue else { return }
            if answers.updateValue(newValue, forKey: key) == nil { order.append(key) }
            if order.count > capacity { answers[order.removeFirst()] = nil }
        }
    }
}
