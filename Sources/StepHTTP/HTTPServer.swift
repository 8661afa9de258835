import CMicroHTTPD
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import HTTPTypes

/// Serves a `Router` with libmicrohttpd: an internal epoll (or poll) thread pool sized to the
/// cores. Everything HTTP-semantic lives in the router; this type only adapts libmicrohttpd's
/// three-phase access callback (head, body chunks, end) to a `RequestExchange` kept in the
/// connection's `con_cls`, and turns `Response` values into MHD responses.
///
/// Handlers run on MHD's pool threads: a slow handler holds up the other connections of its
/// thread, so long work belongs behind a per-session lock, not a global one.
public final class HTTPServer: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var host: String = "127.0.0.1"
        /// 0 picks a free port; read it back from `port` after `start()`.
        public var port: Int = 0
        /// Worker threads; the application passes its core count (`ProcessorCount.active` in
        /// stepd), so the server and the kernels agree on one.
        public var threads: Int = 2
        /// Idle time after which a connection is closed, also mid-request (a stalled upload).
        public var connectionTimeoutSeconds: Int = 60
        /// Per-connection memory for the request head and read buffer. It bounds header size
        /// (MHD answers 431 for heads that do not fit) and also the size of the body chunks
        /// handed to handlers: each chunk is one `recv` and one turn of MHD's event loop.
        ///
        /// libmicrohttpd 0.9.75 zeroes the whole pool between keep-alive requests, so its size
        /// is a per-request cost: at 256 KiB that memset was a third of a small request's CPU
        /// (`perf` under wrk on /healthz), and 64 KiB already cost about 1 us more server CPU
        /// per /healthz than 32 KiB (`stepd bench http`'s "server cpu us/request"), while a
        /// 40 MB upload took about 8% less server CPU with it: not worth it. 32 KiB is MHD's
        /// own default; `connectionMemoryIncrement` lets a body's reads use most of it.
        public var connectionMemoryLimit: Int = 32 * 1024
        /// MHD grows a connection's read buffer before a read when less than this is free in
        /// it. nil: the limit itself, so the buffer grows on every read until nearly the whole
        /// pool is read buffer (MHD keeps back about 8 KiB): a body arrives in reads of about
        /// 24 KiB. MHD's own default (1 KiB) leaves a body's reads at half the pool (16 KiB),
        /// since a handler that takes every chunk keeps the buffer empty.
        public var connectionMemoryIncrement: Int?
        /// SO_RCVBUF for accepted connections (set on the listening socket, which they inherit),
        /// applied only where the kernel grants that much (Linux's `net.core.rmem_max`), since a
        /// fixed buffer also turns off the kernel's autotuning, which might grow further (and a
        /// clamped one would be smaller); 0 leaves autotuning alone. Measured on a 40 MB upload
        /// over a fresh loopback connection (`stepd bench http --only upload`, CPU per thread),
        /// with the read buffer growth above: the server thread's CPU fell from 16-21 ms to
        /// 8-12 ms, and the share of its `perf` samples in tcp_recvmsg -> tcp_send_ack -> ... ->
        /// tcp_write_xmit (the receiving thread running the sender's transmit path after a
        /// window update) from 15% to 8%. A new connection's autotuned buffer starts at
        /// `net.ipv4.tcp_rmem`'s default, 128 KiB. A plain C reader doing the same small reads
        /// showed the same direction (15-21 ms -> 10-17 ms per 40 MB with 4 MiB).
        public var socketReceiveBuffer: Int = 4 << 20
        /// Most connections open at once. At the limit libmicrohttpd stops accepting, so new
        /// clients wait in the listen backlog until a connection closes. Each pool thread takes
        /// an equal share.
        public var connectionLimit: Int = 1024
        /// Most connections open at once from one IP address; 0 for no limit. Beyond it
        /// libmicrohttpd closes a new connection at once, so one client cannot take every slot
        /// of `connectionLimit`. Behind a proxy every connection comes from the proxy's address.
        public var perAddressConnectionLimit: Int = 64
        /// Seconds a connection has to deliver a complete request head, counted from accept or
        /// from the end of its previous response, so also how long an idle keep-alive connection
        /// stays open; 0 for no deadline. Unlike `connectionTimeoutSeconds`, trickled bytes do
        /// not extend it (see `ConnectionDeadlines`).
        public var headerTimeoutSeconds: Int = 15
        /// Seconds a request body may take once its head is in, plus one second for every
        /// `bodyMinBytesPerSecond` bytes received; 0 for no deadline.
        public var bodyTimeoutSeconds: Int = 30
        public var bodyMinBytesPerSecond: Int = 1024
        /// Serve HTTPS with these, through libmicrohttpd's GnuTLS; nil serves plain HTTP.
        public var tls: TLSCredentials?
        /// Buffer size for streamed (`ResponseBodyStream`) bodies: the largest `fill` call.
        public var streamBlockSize: Int = 256 * 1024
        /// Forward libmicrohttpd's own diagnostics (malformed requests, socket errors) to the
        /// logger at debug level; start-up failures are reported in the thrown error anyway.
        public var logLibraryMessages: Bool = true

        public init() {}
        public init(host: String = "127.0.0.1", port: Int = 0) {
            self.host = host
            self.port = port
        }
    }

    /// Whether this libmicrohttpd was built with TLS (Debian's is, with GnuTLS).
    public static var supportsTLS: Bool { MHD_is_feature_supported(.FEATURE_TLS) == .YES }


    public let router: Router
    public let configuration: Configuration
    let logger: Logger

    private struct Running {
        var daemon: OpaquePointer
        var port: Int
        var logSink: UnsafeMutablePointer<stepd_mhd_log_sink>
        var deadlines: ConnectionDeadlines?
    }
    private let running = LockedValue<Running?>(nil)
    /// Messages MHD logged while starting, to explain a failed start.
    private let startMessages = LockedValue<[String]?>(nil)

    public init(router: Router, configuration: Configuration = Configuration(),
                logger: Logger = Logger(label: "stepd.http")) {
        self.router = router
        self.configuration = configuration
        self.logger = logger
    }

    /// The bound port once started (the real one when configured with 0), else nil.
    public var port: Int? { running.withLock { $0?.port } }

    public var isRunning: Bool { running.withLock { $0 != nil } }

    public func start() throws {
        try running.withLock { state in
            guard state == nil else { throw HTTPServerError.alreadyRunning }
            let c = configuration
            let (address, family) = try Self.resolve(c.host, port: c.port)
            defer { address.deallocate() }

            // MHD_USE_ITC: without it MHD 0.9.75 wakes its threads for `stop()` by shutting the
            // listen socket, which a thread at its connection limit no longer polls, so stopping
            // a saturated server waited for a connection to time out (a minute by default).
            var flags = UInt32(MHD_USE_INTERNAL_POLLING_THREAD.rawValue) | UInt32(MHD_USE_ITC.rawValue)
            flags |= MHD_is_feature_supported(.FEATURE_EPOLL) == .YES
                ? UInt32(MHD_USE_EPOLL.rawValue) : UInt32(MHD_USE_POLL.rawValue)
            if family == AF_INET6 { flags |= UInt32(MHD_USE_IPv6.rawValue) }
            if c.logLibraryMessages { flags |= UInt32(MHD_USE_ERROR_LOG.rawValue) }
            if c.tls != nil {
                guard Self.supportsTLS else { throw HTTPServerError.tlsUnsupported }
                flags |= UInt32(MHD_USE_TLS.rawValue)
            }

            let me = Unmanaged.passRetained(self)
            let sink = UnsafeMutablePointer<stepd_mhd_log_sink>.allocate(capacity: 1)
            sink.initialize(to: stepd_mhd_log_sink(
                fn: { ctx, message in
                    guard let ctx, let message else { return }
                    Unmanaged<HTTPServer>.fromOpaque(ctx).takeUnretainedValue().libraryLog(String(cString: message))
                },
                ctx: me.toOpaque()))
            startMessages.withLock { $0 = [] }
            defer { startMessages.withLock { $0 = nil } }

            var options = stepd_mhd_config()
            options.flags = flags
            options.address = address
            options.thread_pool_size = UInt32(max(1, c.threads))
            options.connection_timeout_seconds = UInt32(max(0, c.connectionTimeoutSeconds))
            options.connection_memory_limit = max(4096, c.connectionMemoryLimit)
            options.connection_memory_increment = max(1024, c.connectionMemoryIncrement ?? c.connectionMemoryLimit)
            options.connection_limit = UInt32(max(1, c.connectionLimit))
            options.per_address_connection_limit = UInt32(max(0, c.perAddressConnectionLimit))
            options.access_handler = { cls, connection, url, method, _, uploadData, uploadDataSize, conCls in
                let server = Unmanaged<HTTPServer>.fromOpaque(cls!).takeUnretainedValue()
                return server.access(connection!, url, method, uploadData, uploadDataSize!, conCls!)
            }
            options.access_handler_cls = me.toOpaque()
            options.completed = { _, connection, conCls, termination in
                if let connection { HTTPServer.tracked(connection)?.requestCompleted() }
                guard let conCls, let context = conCls.pointee else { return }
                conCls.pointee = nil
                let exchange = Unmanaged<RequestExchange>.fromOpaque(context).takeRetainedValue()
                if termination != .REQUEST_TERMINATED_COMPLETED_OK { exchange.abandon() }
            }
            let deadlines = makeDeadlines()
            if let deadlines {
                options.notify_connection = { cls, connection, socketContext, event in
                    guard let cls, let connection, let socketContext else { return }
                    let deadlines = Unmanaged<ConnectionDeadlines>.fromOpaque(cls).takeUnretainedValue()
                    switch event {
                    case .CONNECTION_NOTIFY_STARTED:
                        let tracked = deadlines.opened(fd: stepd_mhd_connection_fd(connection))
                        socketContext.pointee = Unmanaged.passRetained(tracked).toOpaque()
                    case .CONNECTION_NOTIFY_CLOSED:
                        guard let context = socketContext.pointee else { return }
                        socketContext.pointee = nil
                        deadlines.closed(Unmanaged<ConnectionDeadlines.Tracked>.fromOpaque(context).takeRetainedValue())
                    default:
                        break
                    }
                }
                options.notify_connection_cls = Unmanaged.passUnretained(deadlines).toOpaque()
            }
            options.log_sink = sink
            let keyPEM = c.tls.map { strdup($0.keyPEM) } ?? nil
            let certificatePEM = c.tls.map { strdup($0.certificatePEM) } ?? nil
            options.tls_key_pem = UnsafePointer(keyPEM)
            options.tls_cert_pem = UnsafePointer(certificatePEM)
            let daemon = stepd_mhd_start(&options)
            free(keyPEM)
            free(certificatePEM)

            guard let daemon else {
                let reason = startMessages.withLock { $0 ?? [] }.joined(separator: "; ")
                deadlines?.stop()
                sink.deallocate()
                me.release()
                if let tls = c.tls, reason.contains("Failed to initialize TLS support") {
                    // GnuTLS's reason comes first; MHD's own line after it adds nothing.
                    let gnutls = startMessages.withLock { $0 ?? [] }.filter { !$0.contains("Failed to initialize TLS support") }
                    throw HTTPServerError.tlsRefused(certificateFile: tls.certificateFile, keyFile: tls.keyFile,
                                                     reason: gnutls.isEmpty ? reason : gnutls.joined(separator: "; "))
                }
                throw HTTPServerError.startFailed(host: c.host, port: c.port,
                                                  reason: reason.isEmpty ? "MHD_start_daemon failed" : reason)
            }
            let port = Int(stepd_mhd_bound_port(daemon))
            if c.socketReceiveBuffer > 0 {
                applyReceiveBuffer(c.socketReceiveBuffer, to: stepd_mhd_listen_fd(daemon))
            }
            state = Running(daemon: daemon, port: port, logSink: sink, deadlines: deadlines)
        }
    }

    /// Stops accepting, closes every connection and joins MHD's threads. Requests in flight
    /// are abandoned (their body handlers see `abandon()`). Safe to call twice.
    public func stop() {
        guard let r = running.withLock({ s -> Running? in defer { s = nil }; return s }) else { return }
        r.deadlines?.stop()
        MHD_stop_daemon(r.daemon)
        r.logSink.deinitialize(count: 1)
        r.logSink.deallocate()
        Unmanaged.passUnretained(self).release()
    }

    /// Sets SO_RCVBUF on the listening socket (accepted sockets inherit it) when the kernel
    /// grants the whole size; otherwise autotuning is left alone (a clamped fixed buffer could be
    /// smaller than what autotuning reaches).
    private func applyReceiveBuffer(_ bytes: Int, to fd: Int32) {
        #if os(Linux)
        guard fd >= 0 else { return }
        let granted = Self.readNumber("/proc/sys/net/core/rmem_max")
        guard let granted, granted >= bytes else {
            logger.debug("socket receive buffer left to autotuning: net.core.rmem_max (\(granted.map(String.init) ?? "unreadable")) is below the \(bytes) bytes asked for")
            return
        }
        var size = Int32(clamping: bytes)
        if setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            logger.debug("setting SO_RCVBUF to \(bytes) failed: \(String(cString: strerror(errno)))")
        }
        #endif
    }

    /// The first line of a small file as an integer (a /proc/sys setting), or nil.
    private static func readNumber(_ path: String) -> Int? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 64)
        guard fgets(&line, Int32(line.count), file) != nil else { return nil }
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return Int(text.filter { !$0.isWhitespace })
    }

    /// The deadline sweep for this run, or nil when every deadline is off (then MHD is not
    /// asked to report connections at all).
    private func makeDeadlines() -> ConnectionDeadlines? {
        let c = configuration
        let policy = ConnectionDeadlines.Policy(
            headerTimeout: c.headerTimeoutSeconds > 0 ? .seconds(c.headerTimeoutSeconds) : nil,
            bodyTimeout: c.bodyTimeoutSeconds > 0 ? .seconds(c.bodyTimeoutSeconds) : nil,
            bodyMinBytesPerSecond: max(0, c.bodyMinBytesPerSecond))
        guard policy.isEnabled else { return nil }
        let metrics = router.metrics
        let logger = logger
        return ConnectionDeadlines(policy: policy) { reason in
            metrics?.connectionsCut.increment([reason.rawValue])
            switch reason {
            case .head: logger.debug("closed a connection that sent no complete request head within \(c.headerTimeoutSeconds) s")
            case .body: logger.debug("closed a connection whose request body came slower than \(c.bodyMinBytesPerSecond) B/s after \(c.bodyTimeoutSeconds) s")
            }
        }
    }

    /// The deadline state MHD keeps for `connection`, when deadlines are on.
    private static func tracked(_ connection: OpaquePointer) -> ConnectionDeadlines.Tracked? {
        stepd_mhd_socket_context(connection).map { Unmanaged<ConnectionDeadlines.Tracked>.fromOpaque($0).takeUnretainedValue() }
    }

    // MARK: libmicrohttpd callbacks

    private func libraryLog(_ message: String) {
        let text = message.hasSuffix("\n") ? String(message.dropLast()) : message
        let captured = startMessages.withLock { m -> Bool in
            guard m != nil else { return false }
            m!.append(text)
            return true
        }
        if captured { logger.warning("libmicrohttpd: \(text)") } else { logger.debug("libmicrohttpd: \(text)") }
    }

    private func access(_ connection: OpaquePointer, _ url: UnsafePointer<CChar>?, _ method: UnsafePointer<CChar>?,
                        _ uploadData: UnsafePointer<CChar>?, _ uploadDataSize: UnsafeMutablePointer<Int>,
                        _ conCls: UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> MHD_Result {
        guard let context = conCls.pointee else {
            let head = Self.head(connection, url: url, method: method)
            let exchange = RequestExchange(router: router, head: head)
            conCls.pointee = Unmanaged.passRetained(exchange).toOpaque()
            // Before `start`: for a body-less request it runs the handler, which may wait on a
            // session lock for longer than the head deadline.
            let tracked = Self.tracked(connection)
            tracked?.headReceived(readingBody: head.hasBody)
            if let early = exchange.start(expectsBody: head.hasBody) {
                tracked?.answering()
                if head.hasBody { return queue(early, on: connection) }
                exchange.deferred = early
            }
            return .YES
        }
        let exchange = Unmanaged<RequestExchange>.fromOpaque(context).takeUnretainedValue()
        if let response = exchange.deferred {
            exchange.deferred = nil
            return queue(response, on: connection)
        }
        if uploadDataSize.pointee > 0 {
            Self.tracked(connection)?.bodyReceived(uploadDataSize.pointee)
            exchange.receive(UnsafeRawBufferPointer(start: uploadData, count: uploadDataSize.pointee))
            uploadDataSize.pointee = 0
            // A refused body longer than the discard bound: close instead of reading on.
            return exchange.discardExceeded ? .NO : .YES
        }
        Self.tracked(connection)?.answering()
        return queue(exchange.finish(), on: connection)
    }

    private static func head(_ connection: OpaquePointer, url: UnsafePointer<CChar>?,
                             method: UnsafePointer<CChar>?) -> HTTPRequestHead {
        // libmicrohttpd takes any bytes up to the first space as the method and up to the colon
        // as a field name; HTTPTypes accepts only tokens. What it refuses is kept as the head's
        // `malformed` reason, and the exchange answers 400 before any route sees the request.
        var fields = (headers: HTTPFields(), malformed: String?.none)
        withUnsafeMutablePointer(to: &fields) { p in
            _ = MHD_get_connection_values(connection, .HEADER_KIND, { cls, _, key, value in
                guard let cls, let key else { return .YES }
                let f = cls.assumingMemoryBound(to: (headers: HTTPFields, malformed: String?).self)
                let name = String(cString: key)
                if let n = HTTPField.Name(name) {
                    f.pointee.headers.append(HTTPField(name: n, value: value.map { String(cString: $0) } ?? ""))
                } else if f.pointee.malformed == nil {
                    f.pointee.malformed = "header field name \"\(name)\" is not a token"
                }
                return .YES
            }, p)
        }
        var query: [(name: String, value: String)] = []
        withUnsafeMutablePointer(to: &query) { p in
            _ = MHD_get_connection_values(connection, .GET_ARGUMENT_KIND, { cls, _, key, value in
                guard let cls, let key else { return .YES }
                cls.assumingMemoryBound(to: [(name: String, value: String)].self).pointee
                    .append((String(cString: key), value.map { String(cString: $0) } ?? ""))
                return .YES
            }, p)
        }
        let rawMethod = method.map { String(cString: $0) } ?? ""
        var head = HTTPRequestHead(method: HTTPRequest.Method(rawMethod) ?? .get,
                                   path: url.map { String(cString: $0) } ?? "/",
                                   queryItems: query, headers: fields.headers)
        head.malformed = HTTPRequest.Method(rawMethod) == nil ? "request method \"\(rawMethod)\" is not a token" : fields.malformed
        return head
    }

    private func queue(_ response: Response, on connection: OpaquePointer) -> MHD_Result {
        let created: OpaquePointer?
        switch response.body {
        case .bytes(let bytes) where bytes.count <= 64 * 1024:
            created = bytes.withUnsafeBytes { raw in
                MHD_create_response_from_buffer(raw.count, UnsafeMutableRawPointer(mutating: raw.baseAddress),
                                                .RESPMEM_MUST_COPY)
            }
        case .bytes(let bytes):
            // Large bodies (a 40 MB parameter download) are lent to MHD instead of copied: the box
            // keeps the array alive, and an array that is never mutated keeps its storage in place.
            let box = Unmanaged.passRetained(BytesBox(bytes))
            let base = bytes.withUnsafeBytes { UnsafeMutableRawPointer(mutating: $0.baseAddress) }
            created = MHD_create_response_from_buffer_with_free_callback_cls(
                bytes.count, base, { cls in Unmanaged<BytesBox>.fromOpaque(cls!).release() }, box.toOpaque())
            if created == nil { box.release() }
        case .stream(let stream):
            let box = Unmanaged.passRetained(StreamBox(stream))
            created = MHD_create_response_from_callback(
                stream.length.map { UInt64($0) } ?? stepd_mhd_size_unknown,
                // MHD allocates the whole block with the response: no more than the body needs.
                max(4096, min(configuration.streamBlockSize, stream.length ?? configuration.streamBlockSize)),
                { cls, position, buffer, max in
                    let box = Unmanaged<StreamBox>.fromOpaque(cls!).takeUnretainedValue()
                    return box.fill(position: Int(position), into: UnsafeMutableRawBufferPointer(start: buffer, count: max))
                },
                box.toOpaque(),
                { cls in Unmanaged<StreamBox>.fromOpaque(cls!).takeRetainedValue().finish() })
            if created == nil { box.takeRetainedValue().finish() }
        }
        guard let mhdResponse = created else { return .NO }
        defer { MHD_destroy_response(mhdResponse) }
        for field in response.headers where field.name != .contentLength {
            if MHD_add_response_header(mhdResponse, field.name.rawName, field.value) != .YES {
                logger.warning("dropped response header that libmicrohttpd refused", metadata: ["header": "\(field.name)"])
            }
        }
        return MHD_queue_response(connection, UInt32(response.status.code), mhdResponse)
    }

    /// Resolves `host` (a literal address or a name) to a socket address MHD can bind.
    private static func resolve(_ host: String, port: Int) throws -> (UnsafePointer<sockaddr>, Int32) {
        guard (0...65535).contains(port) else { throw HTTPServerError.invalidHost("\(host):\(port)") }
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list,
              let addr = first.pointee.ai_addr else {
            throw HTTPServerError.invalidHost(host)
        }
        defer { freeaddrinfo(list) }
        let length = Int(first.pointee.ai_addrlen)
        let copy = UnsafeMutableRawPointer.allocate(byteCount: max(length, MemoryLayout<sockaddr_storage>.size),
                                                    alignment: MemoryLayout<sockaddr_storage>.alignment)
        copy.copyMemory(from: addr, byteCount: length)
        return (UnsafePointer(copy.assumingMemoryBound(to: sockaddr.self)), first.pointee.ai_family)
    }
}

/// Keeps a streamed body alive for as long as MHD holds the response, and releases it once.
private final class StreamBox {
    let stream: ResponseBodyStream
    private var released = false

    init(_ stream: ResponseBodyStream) { self.stream = stream }

    func fill(position: Int, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        do {
            let n = try stream.fill(position, buffer)
            if n > 0 { return min(n, buffer.count) }
            return Int(stream.length == nil ? stepd_mhd_content_reader_end_of_stream
                                            : stepd_mhd_content_reader_end_with_error)
        } catch {
            return Int(stepd_mhd_content_reader_end_with_error)
        }
    }

    func finish() {
        guard !released else { return }
        released = true
        stream.release()
    }
}

/// Keeps a response body alive while libmicrohttpd sends it.
private final class BytesBox {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
}
