// The one inotify instance of the process (the kernel allows only 128 per user): it
// watches the directories of watched files, never the files themselves, because most
// editors save by replacing the file and a watch on the old inode would go silent.
// Its thread reads events and touches the Trackers that watch the named files.
#pragma once
#ifdef __linux__

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "watch/process_thread.hpp"

struct inotify_event;

namespace jurigged::watch {

class Tracker;

class InotifyHub {
public:
    // The process-wide hub, created on first use and closed with its last user;
    // nullptr with `why` set when inotify cannot be initialised.
    static std::shared_ptr<InotifyHub> shared(std::string& why);

    ~InotifyHub();
    InotifyHub(const InotifyHub&) = delete;
    InotifyHub& operator=(const InotifyHub&) = delete;

    // In a forked child the inherited hub has no thread and shares its inotify instance
    // with the parent, so these three do nothing there: the parent's watches stay.

    // False with `why` when the kernel's watch limit is reached.
    bool watch(Tracker& tracker, const std::string& path, std::string& why);
    void unwatch(Tracker& tracker, const std::string& path);
    // Synchronous: once it returns, the hub thread no longer touches `tracker`.
    void unwatch_all(Tracker& tracker);
    // Handles every event queued so far, on the calling thread, before returning.
    void sync();
    // The inotify descriptor, for a thread that polls it and then calls sync() (-1 in
    // a forked child: the parent's events are not this process's).
    int fd() const { return thread_.forked() ? -1 : fd_; }

private:
    struct Subscriber {
        Tracker* tracker;
        std::string path;  // as given to add()
    };
    struct Dir {
        int wd = -1;  // -1: lost (moved away or deleted), waiting to come back
        std::map<std::string, std::vector<Subscriber>> names;  // empty: only an anchor
    };
    using Location = std::pair<std::string, std::string>;  // real directory, name in it
    using Key = std::pair<Tracker*, std::string>;

    InotifyHub(int inotify_fd, int wake_fd);
    void run();
    void serve();
    void read_queued();
    void failed(const std::string& message);
    void handle(const ::inotify_event& event, bool& dirs_changed, std::set<Key>& touched);
    // `adding`: for add(), which may reuse a directory's recent resolution.
    bool place(const Key& key, std::string& why, bool adding = false);
    std::string recent_real_dir(const std::filesystem::path& dir);
    void unplace(const Key& key);
    void unsubscribe(const Key& key, const Location& location);
    bool attach(const std::string& dir_path, Dir& dir, int& error);
    void lose(Dir& dir);
    void recover();
    bool attach_lost();
    void anchor_lost();
    void rewatch_all();
    void overflowed();
    void drop_if_unused(const std::string& dir_path);
    static void touch_all(const Dir& dir);

    const int fd_;
    const int wake_fd_;
    std::mutex mutex_;  // guards the maps below; taken by the hub thread per read
    std::map<std::string, Dir> dirs_;  // by real directory path
    std::map<int, std::string> dir_by_wd_;
    std::map<Key, std::vector<Location>> placed_;  // where each watched file is subscribed
    // Directory as given -> (its real path, when resolved), for add()s in a burst.
    std::map<std::string, std::pair<std::string, std::chrono::steady_clock::time_point>> real_dirs_;
    static constexpr std::chrono::milliseconds recent_dir_lifetime{250};
    // Aligned as the kernel requires for struct inotify_event; used under mutex_.
    alignas(std::uint32_t) char buffer_[64 * 1024];
    ProcessThread thread_;  // last: starts once the members above exist
};

}  // namespace jurigged::watch

#endif  // __linux__
