// The wait for complete saves, the optional debounce and the content judgement behind
// every backend (see tracker.hpp).
#include "watch/tracker.hpp"

#include "common/hash.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <new>
#include <string_view>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif
#include <unistd.h>
#include <utility>

namespace jurigged::watch {

namespace {

std::uint64_t content_hash(const std::string& content) {
    // The size is mixed in so that a collision would also need equal lengths. The
    // standard library's hash takes 8 bytes a step: FNV-1a's byte at a time was ~15%
    // of an add() (every imported module's baseline is hashed on the importing thread).
    return hash_mix(std::hash<std::string_view>{}(content), content.size());
}

std::string describe_size(std::uint64_t bytes) {
    static const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1024 && unit < 4) {
        value /= 1024;
        ++unit;
    }
    char text[96];
    if (unit == 0) {
        std::snprintf(text, sizeof text, "%llu bytes", static_cast<unsigned long long>(bytes));
    } else {
        std::snprintf(text, sizeof text, "%.1f %s (%llu bytes)", value, units[unit],
                      static_cast<unsigned long long>(bytes));
    }
    return text;
}

std::string describe_seconds(std::chrono::milliseconds duration) {
    char text[32];
    std::snprintf(text, sizeof text, "%g s", static_cast<double>(duration.count()) / 1000);
    return text;
}

struct Stamp {
    off_t size = 0;
    long long mtime_ns = 0;
    long long ctime_ns = 0;
    bool operator==(const Stamp&) const = default;

    static Stamp of(const struct stat& st) {
        return Stamp{st.st_size, st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec,
                     st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec};
    }
};

class Descriptor {
public:
    explicit Descriptor(int fd) : fd_(fd) {}
    ~Descriptor() {
        if (fd_ >= 0) ::close(fd_);
    }
    Descriptor(const Descriptor&) = delete;
    Descriptor& operator=(const Descriptor&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

}  // namespace

struct Tracker::Reading {
    enum class Status {
        Read,
        Missing,
        Failed,
        TooBig,    // over the size limit: nothing was allocated for it
        Unstable,  // it changed while being read: read it again
    } status = Status::Read;
    std::string content;
    std::string error;
    std::uint64_t size = 0;  // TooBig

    static Reading of(const std::string& path, std::uint64_t limit) {
        // O_NONBLOCK: a FIFO put in place of a module must not hang the settle thread.
        Descriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
        if (fd.get() < 0) {
            return errno == ENOENT || errno == ENOTDIR ? missing() : failed(path, std::strerror(errno));
        }
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return failed(path, "not a regular file");
        auto size = static_cast<std::uint64_t>(st.st_size);
        if (size > limit) return too_big(size);
        Reading r;
        // Never more than limit + 1 bytes, whatever the file does meanwhile (it may grow).
        r.content.reserve(static_cast<std::size_t>(size));
        char buffer[65536];
        while (r.content.size() <= limit) {
            std::size_t want = std::min<std::uint64_t>(sizeof buffer, limit + 1 - r.content.size());
            ssize_t n = ::read(fd.get(), buffer, want);
            if (n == 0) break;
            if (n < 0) {
                if (errno == EINTR) continue;
                return failed(path, std::strerror(errno));
            }
            auto needed = r.content.size() + static_cast<std::size_t>(n);
            if (needed > r.content.capacity()) {
                r.content.reserve(static_cast<std::size_t>(
                    std::min<std::uint64_t>(limit + 1, std::max<std::uint64_t>(needed, 2 * r.content.capacity()))));
            }
            r.content.append(buffer, static_cast<std::size_t>(n));
        }
        struct stat after {};
        if (r.content.size() > limit) {
            return too_big(::fstat(fd.get(), &after) == 0 ? static_cast<std::uint64_t>(after.st_size)
                                                          : r.content.size());
        }
        if (::fstat(fd.get(), &after) != 0 || !(Stamp::of(after) == Stamp::of(st))) return unstable();
        return r;
    }

    static Reading missing() {
        Reading r;
        r.status = Status::Missing;
        return r;
    }

    static Reading unstable() {
        Reading r;
        r.status = Status::Unstable;
        return r;
    }

    static Reading too_big(std::uint64_t size) {
        Reading r;
        r.status = Status::TooBig;
        r.size = size;
        return r;
    }

    static Reading failed(const std::string& path, const std::string& why) {
        Reading r;
        r.status = Status::Failed;
        r.error = "cannot read " + path + ": " + why;
        return r;
    }
};

Tracker::Tracker(const Options& options)
    : debounce_(std::max(0, options.debounce_ms)),
      max_delay_(std::max(options.max_delay_ms, options.debounce_ms)),
      unclosed_wait_(std::max(0, options.unclosed_write_wait_ms)),
      confirm_empty_(std::max(0, options.confirm_empty_ms)),
      added_check_delay_(std::max(0, options.added_check_ms)),
      max_file_size_(options.max_file_size),
      report_unchanged_(options.report_unchanged),
      quiet_period_(debounce_),
#ifdef __linux__
      wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
#endif
      settler_([this] { settle_thread(); }) {}

Tracker::~Tracker() {
    close();
    if (wake_fd_ >= 0 && !inherited()) ::close(wake_fd_);
}

void Tracker::set_source_fd(int fd) { source_fd_.store(fd); }

void Tracker::add(const std::string& path, const std::string& baseline) {
    std::lock_guard lock(mutex_);
    File& file = files_[path] = File{};
    file.hash = content_hash(baseline);
    if (added_.empty()) {
        added_check_ = Clock::now() + added_check_delay_;
        wake_settler();  // its next wake-up may be later
    }
    added_.insert(path);
}

void Tracker::remove(const std::string& path) {
    std::lock_guard lock(mutex_);
    files_.erase(path);
    pending_.erase(path);
    added_.erase(path);
}

std::vector<std::string> Tracker::paths() const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& entry : files_) out.push_back(entry.first);
    return out;
}

void Tracker::touch(const std::string& path, Touch how) {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    auto it = files_.find(path);
    if (it == files_.end()) return;
    added_.erase(path);  // read for this touch instead
    make_pending(path, it->second, how);
}

void Tracker::make_pending(const std::string& path, File& file, Touch how) {
    auto now = Clock::now();
    ++file.touches;
    file.doubted = false;
    if (how == Touch::Writing) {
        file.writing = true;
        file.last_write = now;
    } else if (how == Touch::Done) {
        file.writing = false;
        file.saved = true;
    }
    pending_.insert(path);
    // Any event re-arms the quiet period, a write still in progress included: files
    // saved together (git checkout) then arrive together.
    last_touch_ = now;
    if (!file.writing && !batch_has_ready_) {
        batch_has_ready_ = true;
        first_ready_ = now;
    }
    wake_settler();
}

void Tracker::wake_settler() {
    if (waiters_ > 0) {
        wake_waiters();
    } else {
        touched_.notify_one();
    }
}

void Tracker::wake_waiters() {
    ready_cv_.notify_all();
    if (wake_fd_ >= 0 && waiters_ > 0) {
        std::uint64_t one = 1;
        (void)!::write(wake_fd_, &one, sizeof one);
    }
}

bool Tracker::has_work() const {
    return batch_has_ready_ || !pending_.empty() || !added_.empty();
}

void Tracker::notice(const std::string& message) {
    std::lock_guard lock(mutex_);
    ready_.push_back(Event{Event::Kind::Notice, {}, {}, message});
    wake_waiters();
}

void Tracker::fault(const std::string& message) { report({}, message); }

void Tracker::report(const std::string& path, const std::string& message) {
    // Reporting may itself fail (no memory left): the thread must go on regardless.
    try {
        std::lock_guard lock(mutex_);
        ready_.push_back(Event{Event::Kind::Error, path, {}, message});
        wake_waiters();
    } catch (...) {
    }
}

void Tracker::set_sync(std::function<void()> sync) {
    std::lock_guard lock(sync_mutex_);
    sync_ = std::move(sync);
}

void Tracker::run_sync() {
    std::function<void()> sync;
    {
        std::lock_guard sync_lock(sync_mutex_);
        sync = sync_;
    }
    if (sync) sync();
}

void Tracker::extend_quiet_period(int poll_interval_ms) {
    std::lock_guard lock(mutex_);
    quiet_period_ = debounce_ + std::chrono::milliseconds(poll_interval_ms);
    wake_settler();
}

std::vector<Event> Tracker::wait(int timeout_ms) {
    // The waiting thread settles the saves itself (reads, judges, delivers to itself)
    // while it waits, and a lone waiter reads the backend's events too (see
    // wait_for_fds): no other thread hands a save on to it. The settle thread does
    // that work only while nobody waits (the program is applying the last batch).
    std::unique_lock lock(mutex_);
    auto deadline = timeout_ms < 0 ? Clock::time_point::max() : Clock::now() + std::chrono::milliseconds(timeout_ms);
    ++waiters_;
    struct Leave {
        Tracker& tracker;
        ~Leave() {  // with mutex_ held
            if (--tracker.waiters_ == 0 && !tracker.closed_ && tracker.has_work()) tracker.touched_.notify_one();
        }
    } leave{*this};
    for (;;) {
        if (closed_) return {};
        if (!ready_.empty()) return std::exchange(ready_, {});
        auto wake = Clock::time_point::max();
        // While the settle thread finishes a round it began, it wakes us when done.
        if (!settling_ && settle_round(lock, wake)) continue;
        if (closed_) return {};
        if (!ready_.empty()) return std::exchange(ready_, {});
        if (Clock::now() >= deadline) return {};
        auto until = std::min(wake, deadline);
        int source = source_fd_.load();
        if (wake_fd_ >= 0 && waiters_ == 1) {
            lock.unlock();
            if (wait_for_fds(source, until)) run_sync();
            lock.lock();
        } else if (until == Clock::time_point::max()) {
            ready_cv_.wait(lock);
        } else {
            ready_cv_.wait_until(lock, until);
        }
    }
}

bool Tracker::wait_for_fds(int source, Clock::time_point until) {
    // The kernel wakes this thread itself when the backend's events are readable (a
    // save), and it reads them here: no other thread's hand-off on the way. The
    // eventfd brings everything else (touches from other threads, notices, close).
    int timeout = -1;
    if (until != Clock::time_point::max()) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now()).count();
        timeout = static_cast<int>(std::clamp<long long>(left, 0, 24LL * 3600 * 1000));
    }
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {source, POLLIN, 0}};
    int count = source >= 0 ? 2 : 1;
    int ready = ::poll(fds, count, timeout);
    if (ready <= 0) return false;  // timed out, or EINTR: the caller looks again
    if (fds[0].revents & POLLIN) {
        std::uint64_t drained = 0;
        (void)!::read(wake_fd_, &drained, sizeof drained);
    }
    return count == 2 && (fds[1].revents & POLLIN);
}

void Tracker::close() {
    closing_.store(true, std::memory_order_relaxed);
    {
        std::lock_guard lock(mutex_);
        closed_ = true;
        wake_waiters();
    }
    touched_.notify_all();
    settler_.join();
}

bool Tracker::closed() const {
    if (inherited()) return closed_;  // see Watcher::close: no lock in a forked child
    std::lock_guard lock(mutex_);
    return closed_;
}

Tracker::Clock::time_point Tracker::batch_deadline() const {
    // Any touch re-arms the quiet period, but a file that never stops being written
    // must not hold back the whole batch forever.
    return std::min(last_touch_ + quiet_period_, first_ready_ + max_delay_);
}

void Tracker::settle_thread() {
    // Nothing may escape a native thread (std::terminate would end the program): a
    // failure is reported and the loop starts again.
    for (;;) {
        try {
            settle_loop();
            return;
        } catch (const std::exception& error) {
            report({}, std::string("internal error in the file watcher: ") + error.what());
        } catch (...) {
            report({}, "internal error in the file watcher (unknown exception)");
        }
    }
}

void Tracker::settle_loop() {
    std::unique_lock lock(mutex_);
    while (!closed_) {
        if (waiters_ > 0 || settling_) {  // a waiting thread settles (see wait)
            touched_.wait(lock);
            continue;
        }
        auto wake = Clock::time_point::max();
        bool worked = settle_round(lock, wake);
        if (waiters_ > 0) wake_waiters();  // one came meanwhile: the rest is its own
        if (worked || closed_) continue;
        if (wake == Clock::time_point::max()) {
            touched_.wait(lock);
        } else {
            touched_.wait_until(lock, wake);
        }
    }
}

bool Tracker::settle_round(std::unique_lock<std::mutex>& lock, Clock::time_point& wake) {
    struct Settling {
        bool& flag;
        explicit Settling(bool& f) : flag(f) { flag = true; }
        ~Settling() { flag = false; }  // with mutex_ held, whatever was thrown
    } settling{settling_};
    // A batch that is due first takes in every event the kernel has already queued
    // (the rest of one read of the event buffer: a checkout, "save all"), so files
    // saved together arrive together without waiting on a timer.
    if (batch_has_ready_ && Clock::now() >= batch_deadline()) {
        lock.unlock();
        run_sync();
        lock.lock();
        if (closed_) return false;
    }
    auto due = take_due(Clock::now(), wake);
    if (due.empty()) return false;
    settle(lock, std::move(due));
    return true;
}

void Tracker::check_added(Clock::time_point now, Clock::time_point& wake) {
    if (added_.empty()) return;
    if (now < added_check_) {
        wake = std::min(wake, added_check_);
        return;
    }
    for (const auto& path : added_) make_pending(path, files_.at(path), Touch::Other);
    added_.clear();
}

std::vector<Tracker::Due> Tracker::take_due(Clock::time_point now, Clock::time_point& wake) {
    check_added(now, wake);
    std::vector<Due> due;
    bool batch_due = batch_has_ready_ && now >= batch_deadline();
    if (batch_has_ready_ && !batch_due) wake = std::min(wake, batch_deadline());
    for (const auto& path : pending_) {
        const File& file = files_.at(path);
        if (file.doubted) {
            if (now >= file.not_before) {
                due.push_back(Due{path, file.touches, false});
            } else {
                wake = std::min(wake, file.not_before);
            }
            continue;
        }
        if (!file.writing) {
            if (batch_due) due.push_back(Due{path, file.touches, false});
            continue;
        }
        // A writer that never closes the file (or whose close we missed) is not waited
        // for forever.
        auto give_up = file.last_write + unclosed_wait_;
        if (now >= give_up) {
            due.push_back(Due{path, file.touches, true});
        } else {
            wake = std::min(wake, give_up);
        }
    }
    for (const auto& item : due) pending_.erase(item.path);
    took_batch_ = batch_due;
    if (batch_due) {
        batch_has_ready_ = false;
        taken_batch_ready_ = first_ready_;
    }
    return due;
}

void Tracker::settle(std::unique_lock<std::mutex>& lock, std::vector<Due> due) {
    // Read without the lock: backends keep touching (a new batch) meanwhile.
    lock.unlock();
    std::vector<Reading> readings;
    readings.reserve(due.size());
    for (const auto& item : due) {
        if (closing_.load(std::memory_order_relaxed)) {
            lock.lock();
            return;  // closed: nothing is delivered any more
        }
        try {
            readings.push_back(Reading::of(item.path, max_file_size_));
        } catch (const std::bad_alloc&) {
            readings.push_back(Reading::failed(item.path, "not enough memory to read it"));
        } catch (const std::exception& error) {
            readings.push_back(Reading::failed(item.path, std::string("internal error: ") + error.what()));
        }
    }
    // Events the kernel queued while we read are handled now: a save begun meanwhile
    // makes that reading stale before it is judged. (A truncate empties the file a
    // moment before its event is queued: believe() covers that.)
    run_sync();
    lock.lock();
    std::vector<Event> batch;
    for (std::size_t i = 0; i < due.size(); ++i) judge(due[i], readings[i], batch);
    // A file whose reading a new save overtook is pending again: the batch it was in
    // keeps its age, so a file rewritten without pause still arrives within max_delay_.
    if (took_batch_ && batch_has_ready_) first_ready_ = std::min(first_ready_, taken_batch_ready_);
    deliver(std::move(batch));
}

void Tracker::judge(const Due& due, Reading& reading, std::vector<Event>& out) {
    auto it = files_.find(due.path);
    if (it == files_.end()) return;  // removed while it was being read
    File& file = it->second;
    if (file.touches != due.touches) return;  // touched since: pending again, read later
    if (reading.status == Reading::Status::Unstable) {
        make_pending(due.path, file, Touch::Other);
        return;
    }
    if (!believe(due.path, file, reading)) return;
    if (due.unclosed) {
        file.writing = false;
        out.push_back(Event{Event::Kind::Notice, due.path, {},
                            due.path + " is still open for writing " + describe_seconds(unclosed_wait_) +
                                " after its last change; reading it as it is"});
    }
    switch (reading.status) {
    case Reading::Status::Read: {
        file.error.clear();
        file.too_big = false;
        file.present = true;
        bool saved = std::exchange(file.saved, false);
        auto hash = content_hash(reading.content);
        if (hash == file.hash) {
            // Said so, since hooks (0.6.1's prerun/postrun) run on every save.
            if (saved && report_unchanged_) out.push_back(Event{Event::Kind::Unchanged, due.path, {}, {}});
            return;
        }
        file.hash = hash;
        out.push_back(Event{Event::Kind::Changed, due.path, std::move(reading.content), {}});
        return;
    }
    case Reading::Status::Missing:
        // The hash is kept: a file that comes back unchanged is no change.
        file.error.clear();
        file.too_big = false;
        if (!file.present) return;
        file.present = false;
        out.push_back(Event{Event::Kind::Deleted, due.path, {}, {}});
        return;
    case Reading::Status::TooBig:
        if (file.too_big) return;
        file.too_big = true;
        file.error.clear();
        out.push_back(Event{Event::Kind::Error, due.path, {},
                            "too big to read: " + describe_size(reading.size) + ", over the " + describe_size(max_file_size_) +
                                " limit (--max-file-size); skipped until it is smaller"});
        return;
    case Reading::Status::Failed:
        file.too_big = false;
        if (file.error == reading.error) return;
        file.error = reading.error;
        out.push_back(Event{Event::Kind::Error, due.path, {}, reading.error});
        return;
    case Reading::Status::Unstable:
        return;
    }
}

bool Tracker::believe(const std::string& path, File& file, const Reading& reading) {
    bool doubtful = (reading.status == Reading::Status::Missing && file.present) ||
                    (reading.status == Reading::Status::Read && reading.content.empty() &&
                     file.hash != content_hash(reading.content));
    if (!doubtful || confirm_empty_.count() == 0) return true;
    if (file.doubted && file.doubted_touches == file.touches) {
        file.doubted = false;  // it stayed so, and no event came: it is what the user saved
        return true;
    }
    file.doubted = true;
    file.doubted_touches = file.touches;
    file.not_before = Clock::now() + confirm_empty_;
    pending_.insert(path);
    return false;
}

void Tracker::deliver(std::vector<Event> batch) {
    if (batch.empty()) return;
    auto about_content = [](Event::Kind kind) {
        return kind == Event::Kind::Changed || kind == Event::Kind::Deleted || kind == Event::Kind::Unchanged;
    };
    for (auto& event : batch) {
        // Saves queued while nobody waited are coalesced: only a file's latest content
        // (or its deletion) is handed over; an unchanged save adds nothing to a queued one.
        if (event.kind == Event::Kind::Unchanged) {
            bool queued = std::any_of(ready_.begin(), ready_.end(), [&](const Event& e) {
                return e.path == event.path && about_content(e.kind);
            });
            if (queued) continue;
        } else if (event.kind == Event::Kind::Changed || event.kind == Event::Kind::Deleted) {
            std::erase_if(ready_, [&](const Event& queued) {
                return queued.path == event.path && about_content(queued.kind);
            });
        }
        ready_.push_back(std::move(event));
    }
    wake_waiters();
}

}  // namespace jurigged::watch
