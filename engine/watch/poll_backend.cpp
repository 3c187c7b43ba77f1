// Polling backend: for network mounts, containers' bind mounts, and as the fallback when
// inotify cannot be used. stat() is cheap, so it runs every round; content is only
// re-read (by the Tracker) when the stat changed, and every few seconds regardless
// because some file systems do not update mtime reliably.
#include "watch/backend.hpp"
#include "watch/process_thread.hpp"
#include "watch/tracker.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <sys/stat.h>
#include <vector>

namespace jurigged::watch {

namespace {

constexpr int rehash_period_ms = 5000;

struct Signature {
    int error = 0;
    dev_t device = 0;
    ino_t inode = 0;
    mode_t mode = 0;
    off_t size = 0;
    long long mtime_ns = 0;
    long long ctime_ns = 0;
    bool operator==(const Signature&) const = default;

    static Signature of(const std::string& path) {
        Signature s;
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) {
            s.error = errno;
            return s;
        }
        s.device = st.st_dev;
        s.inode = st.st_ino;
        s.mode = st.st_mode;
        s.size = st.st_size;
        s.mtime_ns = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
        s.ctime_ns = st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec;
        return s;
    }
};

class PollBackend final : public Backend {
public:
    PollBackend(Tracker& tracker, int interval_ms)
        : tracker_(tracker),
          interval_(std::max(1, interval_ms)),
          rounds_per_rehash_(std::max(1, rehash_period_ms / std::max(1, interval_ms))),
          thread_([this] { run(); }) {
        tracker_.extend_quiet_period(static_cast<int>(interval_.count()));
    }

    ~PollBackend() override {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
    }

    bool watch(const std::string& path, std::string&) override {
        std::lock_guard lock(mutex_);
        signatures_[path] = Signature::of(path);
        return true;
    }

    void unwatch(const std::string& path) override {
        std::lock_guard lock(mutex_);
        signatures_.erase(path);
    }

    bool polling() const override { return true; }

private:
    void run() {
        // Nothing may escape a native thread (std::terminate would end the program).
        for (;;) {
            try {
                poll_rounds();
                return;
            } catch (const std::exception& error) {
                tracker_.fault(std::string("internal error in the polling thread: ") + error.what());
            } catch (...) {
                tracker_.fault("internal error in the polling thread (unknown exception)");
            }
        }
    }

    void poll_rounds() {
        std::unique_lock lock(mutex_);
        for (long round = 1;; ++round) {
            wake_.wait_for(lock, interval_, [this] { return stopping_; });
            if (stopping_) return;
            bool rehash = round % rounds_per_rehash_ == 0;
            std::vector<std::string> touched;
            for (auto& [path, signature] : signatures_) {
                auto now = Signature::of(path);
                if (rehash || now != signature) touched.push_back(path);
                signature = now;
            }
            lock.unlock();
            for (const auto& path : touched) tracker_.touch(path);
            lock.lock();
        }
    }

    Tracker& tracker_;
    const std::chrono::milliseconds interval_;
    const long rounds_per_rehash_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::map<std::string, Signature> signatures_;
    bool stopping_ = false;
    ProcessThread thread_;  // last: starts once the members above exist; joined first
};

}  // namespace

std::unique_ptr<Backend> make_poll_backend(Tracker& tracker, int interval_ms) {
    return std::make_unique<PollBackend>(tracker, interval_ms);
}

}  // namespace jurigged::watch
