#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SIGINT and SIGTERM (stop) and SIGHUP (reload the keys file), taken synchronously. They are blocked first thing, before any thread
/// starts (threads inherit the mask), so one that arrives at any later moment stays pending
/// until `wait()` takes it. A dispatch signal source registers asynchronously after `resume()`,
/// with the default action already set to ignore: a SIGTERM in that window, as `docker stop` or
/// a test may send right after the "listening" line, was dropped and stepd never stopped.
struct StopSignals {
    private var set = sigset_t()

    /// Blocks the signals in the calling thread and every thread it starts from now on.
    static func block() -> StopSignals {
        var s = StopSignals()
        sigemptyset(&s.set)
        sigaddset(&s.set, SIGINT)
        sigaddset(&s.set, SIGTERM)
        sigaddset(&s.set, SIGHUP)
        pthread_sigmask(SIG_BLOCK, &s.set, nil)
        return s
    }

    /// Waits for one of the signals, also one that arrived before this call; returns it.
    func wait() -> Int32 {
        var set = set
        var signal: Int32 = 0
        while sigwait(&set, &signal) != 0 {}
        return signal
    }
}
