// The Watcher: a Tracker fed by the native backend, or by polling when asked to or when
// the native backend cannot be used.
#include "watch/watcher.hpp"

#include "watch/backend.hpp"
#include "watch/tracker.hpp"

#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace jurigged::watch {

namespace {

bool fallback_forced() {
    const char* value = std::getenv(force_poll_fallback_env);
    return value && std::strcmp(value, "1") == 0;
}

}  // namespace

Watcher::Watcher(Options options) : options_(options), tracker_(std::make_unique<Tracker>(options)) {
    if (options_.poll_ms > 0) {
        backend_ = make_poll_backend(*tracker_, options_.poll_ms);
        return;
    }
    std::string why;
    if (fallback_forced()) {
        why = std::string("inotify disabled by ") + force_poll_fallback_env + "=1";
    } else {
        backend_ = make_native_backend(*tracker_, why);
    }
    if (!backend_) fall_back_to_polling(why);
}

Watcher::~Watcher() {
    close();
    if (tracker_->inherited()) (void)tracker_.release();  // see Tracker::inherited
}

void Watcher::fall_back_to_polling(const std::string& why) {
    backend_.reset();  // before its replacement: it must stop touching files first
    backend_ = make_poll_backend(*tracker_, options_.fallback_poll_ms);
    std::string ignored;
    for (const auto& path : tracker_->paths()) backend_->watch(path, ignored);
    tracker_->notice("cannot watch files with inotify (" + why + "); polling them every " +
                     std::to_string(options_.fallback_poll_ms) + " ms instead");
}

void Watcher::add(const std::string& path, const std::string& baseline) {
    std::lock_guard lock(mutex_);
    if (!backend_) throw std::runtime_error("the watcher is closed");
    tracker_->add(path, baseline);
    std::string why;
    if (!backend_->watch(path, why)) fall_back_to_polling(why);
}

void Watcher::remove(const std::string& path) {
    std::lock_guard lock(mutex_);
    if (!backend_) return;
    backend_->unwatch(path);
    tracker_->remove(path);
}

std::vector<Event> Watcher::wait(int timeout_ms) {
    // No lock: the tracker is never replaced, and close() must be able to wake this.
    return tracker_->wait(timeout_ms);
}

// In a forked child only the forking thread exists, and a lock that another thread
// of the parent held at the fork (a GIL-free add() from an importing thread, the
// settler) stays held for ever: the child reads and forgets without locking.

void Watcher::close() {
    if (tracker_->inherited()) {
        // Nothing of this watcher runs here; its backend shares kernel objects with
        // the parent's, so it is forgotten rather than shut down.
        (void)backend_.release();
        return;
    }
    std::lock_guard lock(mutex_);
    backend_.reset();
    tracker_->close();
}

bool Watcher::closed() const {
    if (tracker_->inherited()) return !backend_ || tracker_->closed();
    std::lock_guard lock(mutex_);
    return !backend_ || tracker_->closed();
}

bool Watcher::polling() const {
    if (tracker_->inherited()) return backend_ && backend_->polling();
    std::lock_guard lock(mutex_);
    return backend_ && backend_->polling();
}

}  // namespace jurigged::watch
