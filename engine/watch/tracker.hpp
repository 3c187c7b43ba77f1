// Decides what a batch holds: backends only say "this file may have changed"; once the
// watcher has been quiet for the debounce period the touched files are re-read and
// judged by content (never mtime), and the resulting events are handed to wait().
#pragma once

#include "watch/process_thread.hpp"
#include "watch/watcher.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace jurigged::watch {

class Tracker {
public:
    explicit Tracker(const Options& options);
    ~Tracker();
    Tracker(const Tracker&) = delete;
    Tracker& operator=(const Tracker&) = delete;

    // The file is re-read after the first quiet period, so an edit made between the
    // import (the baseline) and add() is still reported.
    void add(const std::string& path, const std::string& baseline);
    void remove(const std::string& path);
    std::vector<std::string> paths() const;

    // Called by backends from any thread: `path` (as given to add) may have changed.
    void touch(const std::string& path);
    void notice(const std::string& message);

    // A poller only knows a file is quiet once a round saw no change: it lengthens the
    // quiet period by its interval (a zero debounce stays zero: deliver at once).
    void extend_quiet_period(int poll_interval_ms);

    std::vector<Event> wait(int timeout_ms);
    void close();
    bool closed() const;

    // True in a child process forked after this tracker started: it has no settle thread
    // there, and its condition variables still count the parent's waiters, so it must
    // not be destroyed (pthread_cond_destroy would wait for them forever).
    bool inherited() const { return settler_.forked(); }

private:
    using Clock = std::chrono::steady_clock;

    struct File {
        std::uint64_t hash = 0;  // of the last content delivered, or of the baseline
        bool present = true;     // false once a Deleted was delivered
        std::string error;       // the Error last delivered, so it is not repeated
    };
    struct Reading;

    void make_pending(const std::string& path);  // with mutex_ held
    void settle_loop();
    Clock::time_point batch_deadline() const;
    void judge(const std::string& path, const Reading& reading, std::vector<Event>& out);

    const std::chrono::milliseconds debounce_;
    const std::chrono::milliseconds max_delay_;
    std::chrono::milliseconds quiet_period_;  // guarded by mutex_

    mutable std::mutex mutex_;
    std::condition_variable touched_;  // wakes the settle thread
    std::condition_variable ready_cv_;  // wakes wait()
    std::map<std::string, File> files_;
    std::set<std::string> pending_;
    Clock::time_point first_touch_{};
    Clock::time_point last_touch_{};
    std::vector<Event> ready_;
    bool closed_ = false;
    ProcessThread settler_;  // last: starts once the members above exist
};

}  // namespace jurigged::watch
