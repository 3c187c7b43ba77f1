// The debounce and content judgement behind every backend (see tracker.hpp).
#include "watch/tracker.hpp"

#include "common/hash.hpp"

#include <algorithm>
#include <utility>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace jurigged::watch {

namespace {

std::uint64_t content_hash(const std::string& content) {
    // The size is mixed in so that a collision would also need equal lengths.
    return hash_mix(hash_bytes(content), content.size());
}

}  // namespace

struct Tracker::Reading {
    enum class Status { Read, Missing, Failed } status = Status::Read;
    std::string content;
    std::string error;

    static Reading of(const std::string& path) {
        Reading r;
        // O_NONBLOCK: a FIFO put in place of a module must not hang the settle thread.
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) {
            return errno == ENOENT || errno == ENOTDIR ? missing() : failed(path, std::strerror(errno));
        }
        struct stat st {};
        if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            ::close(fd);
            return failed(path, "not a regular file");
        }
        r.content.reserve(static_cast<std::size_t>(st.st_size));
        char buffer[65536];
        for (;;) {
            ssize_t n = ::read(fd, buffer, sizeof buffer);
            if (n > 0) {
                r.content.append(buffer, static_cast<std::size_t>(n));
            } else if (n == 0) {
                break;
            } else if (errno != EINTR) {
                int err = errno;
                ::close(fd);
                return failed(path, std::strerror(err));
            }
        }
        ::close(fd);
        return r;
    }

    static Reading missing() {
        Reading r;
        r.status = Status::Missing;
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
      quiet_period_(debounce_),
      settler_([this] { settle_loop(); }) {}

Tracker::~Tracker() { close(); }

void Tracker::add(const std::string& path, const std::string& baseline) {
    std::lock_guard lock(mutex_);
    files_[path] = File{content_hash(baseline), true, {}};
    make_pending(path);
}

void Tracker::remove(const std::string& path) {
    std::lock_guard lock(mutex_);
    files_.erase(path);
    pending_.erase(path);
}

std::vector<std::string> Tracker::paths() const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& entry : files_) out.push_back(entry.first);
    return out;
}

void Tracker::touch(const std::string& path) {
    std::lock_guard lock(mutex_);
    if (closed_ || !files_.count(path)) return;
    make_pending(path);
}

void Tracker::make_pending(const std::string& path) {
    auto now = Clock::now();
    if (pending_.empty()) first_touch_ = now;
    last_touch_ = now;
    pending_.insert(path);
    touched_.notify_one();
}

void Tracker::notice(const std::string& message) {
    std::lock_guard lock(mutex_);
    ready_.push_back(Event{Event::Kind::Notice, {}, {}, message});
    ready_cv_.notify_all();
}

void Tracker::extend_quiet_period(int poll_interval_ms) {
    std::lock_guard lock(mutex_);
    if (debounce_.count() > 0) quiet_period_ = debounce_ + std::chrono::milliseconds(poll_interval_ms);
    touched_.notify_one();
}

std::vector<Event> Tracker::wait(int timeout_ms) {
    std::unique_lock lock(mutex_);
    auto ready = [this] { return closed_ || !ready_.empty(); };
    if (timeout_ms < 0) {
        ready_cv_.wait(lock, ready);
    } else {
        ready_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), ready);
    }
    if (closed_) return {};
    return std::exchange(ready_, {});
}

void Tracker::close() {
    {
        std::lock_guard lock(mutex_);
        closed_ = true;
    }
    touched_.notify_all();
    ready_cv_.notify_all();
    settler_.join();
}

bool Tracker::closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
}

Tracker::Clock::time_point Tracker::batch_deadline() const {
    // Any touch re-arms the quiet period, but a file that never stops being written
    // must not hold back the whole batch forever.
    return std::min(last_touch_ + quiet_period_, first_touch_ + max_delay_);
}

void Tracker::settle_loop() {
    std::unique_lock lock(mutex_);
    while (!closed_) {
        if (pending_.empty()) {
            touched_.wait(lock);
            continue;
        }
        auto deadline = batch_deadline();
        if (Clock::now() < deadline) {
            touched_.wait_until(lock, deadline);
            continue;
        }
        auto due = std::exchange(pending_, {});
        lock.unlock();
        // Read without the lock: backends keep touching (a new batch) meanwhile.
        std::vector<std::pair<std::string, Reading>> readings;
        for (const auto& path : due) readings.emplace_back(path, Reading::of(path));
        lock.lock();
        std::vector<Event> batch;
        for (const auto& [path, reading] : readings) judge(path, reading, batch);
        if (!batch.empty()) {
            for (auto& event : batch) ready_.push_back(std::move(event));
            ready_cv_.notify_all();
        }
    }
}

void Tracker::judge(const std::string& path, const Reading& reading, std::vector<Event>& out) {
    auto it = files_.find(path);
    if (it == files_.end()) return;  // removed while it was being read
    File& file = it->second;
    switch (reading.status) {
    case Reading::Status::Read: {
        file.error.clear();
        file.present = true;
        auto hash = content_hash(reading.content);
        if (hash == file.hash) return;
        file.hash = hash;
        out.push_back(Event{Event::Kind::Changed, path, reading.content, {}});
        return;
    }
    case Reading::Status::Missing:
        // The hash is kept: a file that comes back unchanged is no change.
        file.error.clear();
        if (!file.present) return;
        file.present = false;
        out.push_back(Event{Event::Kind::Deleted, path, {}, {}});
        return;
    case Reading::Status::Failed:
        if (file.error == reading.error) return;
        file.error = reading.error;
        out.push_back(Event{Event::Kind::Error, path, {}, reading.error});
        return;
    }
}

}  // namespace jurigged::watch
