// The native backend on Linux: one Watcher's view of the process-wide InotifyHub.
// Elsewhere there is no native backend yet, so the Watcher polls.
#include "watch/backend.hpp"

#ifdef __linux__
#include "watch/inotify_hub.hpp"
#include "watch/tracker.hpp"

namespace jurigged::watch {

namespace {

class InotifyBackend final : public Backend {
public:
    InotifyBackend(std::shared_ptr<InotifyHub> hub, Tracker& tracker) : hub_(std::move(hub)), tracker_(tracker) {
        // The copy of hub_ keeps the hub alive for a sync the settle thread has begun.
        tracker_.set_sync([hub = hub_] { hub->sync(); });
        tracker_.set_source_fd(hub_->fd());
    }
    ~InotifyBackend() override {
        tracker_.set_source_fd(-1);
        tracker_.set_sync({});
        hub_->unwatch_all(tracker_);
    }

    bool watch(const std::string& path, std::string& why) override { return hub_->watch(tracker_, path, why); }
    void unwatch(const std::string& path) override { hub_->unwatch(tracker_, path); }
    bool polling() const override { return false; }

private:
    std::shared_ptr<InotifyHub> hub_;
    Tracker& tracker_;
};

}  // namespace

std::unique_ptr<Backend> make_native_backend(Tracker& tracker, std::string& why) {
    auto hub = InotifyHub::shared(why);
    if (!hub) return nullptr;
    return std::make_unique<InotifyBackend>(std::move(hub), tracker);
}

}  // namespace jurigged::watch

#else

namespace jurigged::watch {

std::unique_ptr<Backend> make_native_backend(Tracker&, std::string& why) {
    why = "no native file notification backend on this platform yet";
    return nullptr;
}

}  // namespace jurigged::watch

#endif
