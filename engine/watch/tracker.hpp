// Decides what a batch holds: backends only say "this file may have changed" and how
// (still being written, or complete); a file is read as soon as its save is complete
// (after the events already queued are taken in, and after the debounce if one was
// asked for), judged by content (never mtime), and the resulting events are handed to
// wait().
#pragma once

#include "watch/process_thread.hpp"
#include "watch/watcher.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace jurigged::watch {

// What a backend saw happen to a watched file.
enum class Touch : std::uint8_t {
    Writing,  // written (IN_MODIFY, a regular file created): its writer may not be done
    Done,     // closed after writing, renamed into place, deleted or renamed away
    Other,    // anything else (attributes, a rescan, a poll): says nothing about writers
};

class Tracker {
public:
    explicit Tracker(const Options& options);
    ~Tracker();
    Tracker(const Tracker&) = delete;
    Tracker& operator=(const Tracker&) = delete;

    // The file is re-read once Options::added_check_ms have passed (with the others
    // added meanwhile), so an edit made between the import (the baseline) and add() is
    // still reported. Its watch is in place when add() returns: later edits are seen.
    void add(const std::string& path, const std::string& baseline);
    void remove(const std::string& path);
    std::vector<std::string> paths() const;

    // Called by backends from any thread: `path` (as given to add) may have changed.
    void touch(const std::string& path, Touch how = Touch::Other);
    void notice(const std::string& message);
    // A failure of a native thread (not about one file): reported, the thread goes on.
    void fault(const std::string& message);

    // Called after reading files and before judging them: it must deliver (as touches)
    // every event the backend's source has queued so far, so that a save begun while a
    // file was being read is seen and that reading is dropped. Set by the native backend.
    void set_sync(std::function<void()> sync);
    // The backend's event descriptor (-1: none): a thread in wait() polls it and runs
    // the sync itself when it is readable. Cleared by the backend before it closes it.
    void set_source_fd(int fd);

    // A poller only knows a file is quiet once a round saw no change: it lengthens the
    // quiet period by its interval, even with a zero debounce (no half-written file).
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
        bool too_big = false;    // its size Error was delivered; cleared once it is read
        std::string error;       // the Error last delivered, so it is not repeated
        bool writing = false;    // written and not yet closed
        bool saved = false;      // a writer finished with it since it was last read
        Clock::time_point last_write{};
        std::uint64_t touches = 0;  // a reading taken before the latest touch is stale
        bool doubted = false;         // read empty or missing: read again before believing it
        std::uint64_t doubted_touches = 0;
        Clock::time_point not_before{};
    };
    struct Reading;
    struct Due {
        std::string path;
        std::uint64_t touches = 0;  // File::touches when it was taken
        bool unclosed = false;      // read although still open for writing
    };

    void make_pending(const std::string& path, File& file, Touch how);  // with mutex_ held
    void wake_settler();    // with mutex_ held: the waiting thread if any, else the settle thread
    void wake_waiters();    // with mutex_ held
    // Without mutex_: poll the wake eventfd and `source` until `until`; true if
    // `source` is readable.
    bool wait_for_fds(int source, Clock::time_point until);
    bool has_work() const;  // with mutex_ held
    void settle_thread();
    void run_sync();  // without mutex_ held
    void settle_loop();
    // One round of settling by whichever thread (mutex_ held; released while reading):
    // false if nothing was due, with `wake` set to when something will be.
    bool settle_round(std::unique_lock<std::mutex>& lock, Clock::time_point& wake);
    std::vector<Due> take_due(Clock::time_point now, Clock::time_point& wake);  // with mutex_ held
    void check_added(Clock::time_point now, Clock::time_point& wake);            // with mutex_ held
    void settle(std::unique_lock<std::mutex>& lock, std::vector<Due> due);
    Clock::time_point batch_deadline() const;
    void judge(const Due& due, Reading& reading, std::vector<Event>& out);
    bool believe(const std::string& path, File& file, const Reading& reading);
    void deliver(std::vector<Event> batch);  // with mutex_ held
    void report(const std::string& path, const std::string& message);

    const std::chrono::milliseconds debounce_;
    const std::chrono::milliseconds max_delay_;
    const std::chrono::milliseconds unclosed_wait_;
    const std::chrono::milliseconds confirm_empty_;
    const std::chrono::milliseconds added_check_delay_;
    const std::uint64_t max_file_size_;
    const bool report_unchanged_;
    std::chrono::milliseconds quiet_period_;  // guarded by mutex_

    mutable std::mutex mutex_;
    std::condition_variable touched_;  // wakes the settle thread
    std::condition_variable ready_cv_;  // wakes wait(): a batch, or settle work while it waits
    int waiters_ = 0;         // threads in wait(): they settle, the settle thread sleeps
    // A lone waiter sleeps in poll() on these instead of on ready_cv_ (Linux).
    const int wake_fd_ = -1;
    std::atomic<int> source_fd_{-1};
    bool settling_ = false;   // a thread is in settle_round (one at a time)
    std::map<std::string, File> files_;
    std::set<std::string> pending_;     // touched since last read (some still being written)
    std::set<std::string> added_;       // added, not touched since: read at added_check_
    Clock::time_point added_check_{};
    bool batch_has_ready_ = false;      // some pending file is complete: a batch is open
    Clock::time_point first_ready_{};   // when the open batch got its first complete file
    bool took_batch_ = false;                // the files being read include a batch
    Clock::time_point taken_batch_ready_{};  // its first_ready_
    Clock::time_point last_touch_{};
    std::vector<Event> ready_;
    bool closed_ = false;
    // Set by close() before it takes mutex_: a round reading files without the lock
    // (the re-read of every added file, ~200 at a program's start) stops there, so a
    // program that ends meanwhile does not wait for reads nobody will judge.
    std::atomic<bool> closing_{false};
    std::mutex sync_mutex_;  // guards sync_ alone: it is called without mutex_
    std::function<void()> sync_;
    ProcessThread settler_;  // last: starts once the members above exist
};

}  // namespace jurigged::watch
