// The file watcher: native threads (the process-wide inotify reader, and per Watcher a
// settle thread, plus a poll thread when polling) that see every save of the watched
// files, however an editor writes it, and hand them over in batches. A save is
// read only once it is complete (its writer closed the file, or it was renamed into
// place), and no native thread lets an exception escape: it becomes an Error event.
// While a thread waits in wait() it does the settle thread's work itself (reading and
// judging the saves, GIL released): a save reaches it with one thread hop.
// Pure C++ (no Python headers); Python waits on it through the binding, GIL released.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace jurigged::watch {

struct Options {
    // Extra quiet period that closes a batch: any event on any watched file re-arms it.
    // 0 (the default) delivers a complete save at once, together with whatever the
    // kernel had already queued. When polling it is lengthened by the interval (a file
    // is only known quiet after a round without change).
    int debounce_ms = 0;
    int poll_ms = 0;              // > 0: poll by content at this interval instead of inotify
    int max_delay_ms = 1000;      // files that never stop changing delay a batch at most this long
    int fallback_poll_ms = 1000;  // polling interval when inotify cannot be used
    // A file seen written but not closed is read this long after its last write anyway
    // (with a Notice), for writers that keep it open; closing or renaming it into place
    // is what normally makes a save complete.
    int unclosed_write_wait_ms = 5000;
    // An empty or missing file is also what a save in progress looks like for a moment
    // (a truncate, an unlink before the new file is created), before the kernel has
    // queued the event that says so: it is believed once it stayed so, untouched, this long.
    int confirm_empty_ms = 250;
    // The re-read that catches an edit made between the import (the baseline) and add()
    // waits this long: the files of a start-up (hundreds of imports, one add() each)
    // are then read in a few batches, not each on its own wake-up of the settle thread
    // while the program is still importing.
    int added_check_ms = 50;
    // Bigger files are never read (so never allocated): one Error, then nothing until
    // the file is back under the limit.
    std::uint64_t max_file_size = 16 * 1024 * 1024;
    // Also report a complete save that left the content as it was (Unchanged).
    bool report_unchanged = false;
};

// Environment variable read when a Watcher is created: "1" makes it behave as if inotify
// were unavailable (polling fallback and its Notice), so that tests can exercise it.
inline constexpr const char* force_poll_fallback_env = "JURIGGED_FORCE_POLL_FALLBACK";

struct Event {
    enum class Kind : std::uint8_t {
        Changed,  // content differs from the last content delivered (or the baseline)
        Unchanged,  // a complete save (closed after writing, renamed into place) that
                    // left the content as it was: a touch, a save without edits
        Deleted,  // the file is gone (after the quiet period: not a rename-save)
        Error,    // the file cannot be read (or the watcher itself failed: path may be empty)
        Notice,   // not about one file (a fallback to polling, a rescan); path may be empty
    };
    Kind kind = Kind::Changed;
    std::string path;     // the path as given to add()
    std::string content;  // Changed: the bytes that were judged new
    std::string message;  // Error and Notice
};

class Backend;
class Tracker;

class Watcher {
public:
    explicit Watcher(Options options);
    ~Watcher();
    Watcher(const Watcher&) = delete;
    Watcher& operator=(const Watcher&) = delete;

    // Start watching a file. `baseline` is the content the program already runs
    // (what was imported): a later content equal to it is not a change. The file is read
    // once after the quiet period, so an edit made since the import is reported too.
    // Throws std::runtime_error after close().
    void add(const std::string& path, const std::string& baseline);
    void remove(const std::string& path);

    // Block until a batch is ready (returned), timeout_ms passes (< 0: forever) or
    // close() is called (both return an empty batch). Safe to call from one thread
    // while others call add/remove/close.
    // After fork() a Watcher inherited by the child reports nothing there (create a new
    // one in the child); closing or destroying it leaves the parent's watcher working.
    std::vector<Event> wait(int timeout_ms);

    void close();
    bool closed() const;
    bool polling() const;  // true when polling, by request or as a fallback

private:
    void fall_back_to_polling(const std::string& why);

    const Options options_;
    mutable std::mutex mutex_;  // add/remove/close against a backend swap on fallback
    std::unique_ptr<Tracker> tracker_;
    std::unique_ptr<Backend> backend_;  // destroyed first: it feeds tracker_
};

}  // namespace jurigged::watch
