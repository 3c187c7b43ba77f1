// The shared inotify instance (see inotify_hub.hpp). A directory that disappears (moved
// away, deleted, git switching branches) is "lost": its nearest existing ancestor is
// watched as an anchor until the directory comes back, and then its files are re-read.
#ifdef __linux__
#include "watch/inotify_hub.hpp"

#include "watch/tracker.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <poll.h>
#include <set>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

namespace jurigged::watch {

namespace {

namespace fs = std::filesystem;

// Every event re-arms the quiet period. IN_MODIFY says a writer is at work: the file is
// read once IN_CLOSE_WRITE says it is done (or IN_MOVED_TO puts a new file in place).
constexpr std::uint32_t dir_mask = IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_CREATE | IN_DELETE |
                                   IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF |
                                   IN_ONLYDIR | IN_EXCL_UNLINK;

std::string real_or_same(const fs::path& dir) {
    std::error_code ec;
    auto real = fs::canonical(dir, ec);
    return ec ? dir.string() : real.string();
}

// Where a file's events show up: its directory under the path given, and, when that
// goes through a symlink, the real file's directory (edits happen there). `real_dir`
// resolves a directory.
template <typename RealDir>
std::vector<std::pair<std::string, std::string>> locations(const std::string& path, RealDir&& real_dir) {
    std::vector<std::pair<std::string, std::string>> out;
    auto add = [&](const fs::path& file) {
        std::pair<std::string, std::string> location{real_dir(file.parent_path()), file.filename().string()};
        for (const auto& seen : out) {
            if (seen == location) return;
        }
        out.push_back(std::move(location));
    };
    std::error_code ec;
    fs::path absolute = fs::absolute(path, ec).lexically_normal();
    add(absolute);
    // A file that is not a symlink is where its directory really is: resolving it
    // again (one readlink per path component, twice) cost most of an add().
    struct stat st {};
    if (::lstat(absolute.c_str(), &st) == 0 && !S_ISLNK(st.st_mode)) return out;
    fs::path real = fs::canonical(absolute, ec);
    if (!ec) add(real);
    return out;
}

// What an event on a watched name says about its writer.
Touch what_happened(const ::inotify_event& event, const std::string& dir_path) {
    if (event.mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM)) return Touch::Done;
    if (event.mask & IN_MODIFY) return Touch::Writing;
    if (event.mask & IN_CREATE) {
        // A regular file just created is being written (its IN_CLOSE_WRITE follows); a
        // symlink or a hard link put in place is complete as it is (a link's inode
        // already has a name elsewhere).
        struct stat st {};
        std::string path = dir_path + "/" + event.name;
        if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1) return Touch::Writing;
        return Touch::Done;
    }
    return Touch::Other;
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

std::shared_ptr<InotifyHub> InotifyHub::shared(std::string& why) {
    static std::mutex mutex;
    static std::weak_ptr<InotifyHub> current;
    std::lock_guard lock(mutex);
    if (auto hub = current.lock(); hub && !hub->thread_.forked()) return hub;
    int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
        why = std::string("inotify_init1 failed: ") + std::strerror(errno) +
              (errno == EMFILE ? " (fs.inotify.max_user_instances reached)" : "");
        return nullptr;
    }
    int wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake < 0) {
        why = std::string("eventfd failed: ") + std::strerror(errno);
        ::close(fd);
        return nullptr;
    }
    std::shared_ptr<InotifyHub> hub(new InotifyHub(fd, wake));
    current = hub;
    return hub;
}

InotifyHub::InotifyHub(int inotify_fd, int wake_fd)
    : fd_(inotify_fd), wake_fd_(wake_fd), thread_([this] { run(); }) {}

InotifyHub::~InotifyHub() {
    if (thread_.forked()) return;  // the eventfd would wake the parent's thread
    std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
    thread_.join();
    ::close(fd_);
    ::close(wake_fd_);
}

bool InotifyHub::watch(Tracker& tracker, const std::string& path, std::string& why) {
    if (thread_.forked()) return true;
    std::lock_guard lock(mutex_);
    bool placed = place(Key{&tracker, path}, why, true);
    recover();  // a directory that does not exist yet waits behind an anchor
    return placed;
}

void InotifyHub::unwatch(Tracker& tracker, const std::string& path) {
    if (thread_.forked()) return;
    std::lock_guard lock(mutex_);
    unplace(Key{&tracker, path});
    anchor_lost();
}

void InotifyHub::unwatch_all(Tracker& tracker) {
    if (thread_.forked()) return;
    std::lock_guard lock(mutex_);
    std::vector<Key> keys;
    for (const auto& entry : placed_) {
        if (entry.first.first == &tracker) keys.push_back(entry.first);
    }
    for (const auto& key : keys) unplace(key);
    anchor_lost();
}

std::string InotifyHub::recent_real_dir(const fs::path& dir) {
    // The imports of a start-up add hundreds of files from a few directories, and
    // resolving each one's directory again (a readlink per component) was most of an
    // add(): a resolution is reused for the adds that follow it closely. Only add()
    // uses it; events and recovery (a directory replaced) always resolve afresh.
    auto now = std::chrono::steady_clock::now();
    auto key = dir.string();
    auto it = real_dirs_.find(key);
    if (it != real_dirs_.end() && now - it->second.second < recent_dir_lifetime) return it->second.first;
    if (real_dirs_.size() > 256) real_dirs_.clear();
    auto real = real_or_same(dir);
    real_dirs_[key] = {real, now};
    return real;
}

bool InotifyHub::place(const Key& key, std::string& why, bool adding) {
    auto wanted = adding ? locations(key.second, [this](const fs::path& dir) { return recent_real_dir(dir); })
                         : locations(key.second, real_or_same);
    auto& current = placed_[key];
    for (const auto& location : current) {
        if (std::find(wanted.begin(), wanted.end(), location) == wanted.end()) unsubscribe(key, location);
    }
    bool ok = true;
    for (const auto& location : wanted) {
        if (std::find(current.begin(), current.end(), location) != current.end()) continue;
        Dir& dir = dirs_[location.first];
        dir.names[location.second].push_back(Subscriber{key.first, key.second});
        int error = 0;
        if (!attach(location.first, dir, error) && (error == ENOSPC || error == ENOMEM)) {
            why = "the inotify watch limit is reached (raise fs.inotify.max_user_watches)";
            ok = false;
        }
    }
    current = std::move(wanted);
    return ok;
}

void InotifyHub::unplace(const Key& key) {
    auto it = placed_.find(key);
    if (it == placed_.end()) return;
    for (const auto& location : it->second) unsubscribe(key, location);
    placed_.erase(it);
}

void InotifyHub::unsubscribe(const Key& key, const Location& location) {
    auto dir = dirs_.find(location.first);
    if (dir == dirs_.end()) return;
    auto named = dir->second.names.find(location.second);
    if (named == dir->second.names.end()) return;
    std::erase_if(named->second, [&](const Subscriber& s) { return s.tracker == key.first && s.path == key.second; });
    if (named->second.empty()) dir->second.names.erase(named);
    drop_if_unused(location.first);
}

void InotifyHub::run() {
    // Nothing may escape a native thread (std::terminate would end the program): a
    // failure is reported to every watcher, every file is re-read (events may be lost),
    // and the thread goes on.
    for (;;) {
        try {
            serve();
            return;
        } catch (const std::exception& error) {
            failed(std::string("internal error in the inotify thread: ") + error.what());
        } catch (...) {
            failed("internal error in the inotify thread (unknown exception)");
        }
    }
}

void InotifyHub::serve() {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    for (;;) {
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (fds[1].revents) return;
        std::lock_guard lock(mutex_);
        read_queued();
    }
}

void InotifyHub::sync() {
    if (thread_.forked()) return;
    std::lock_guard lock(mutex_);
    read_queued();
}

void InotifyHub::read_queued() {
    // Read under mutex_ (by the hub thread or by sync()), so that once sync() returns
    // every event queued before it was called has been handled.
    for (;;) {
        ssize_t n = ::read(fd_, buffer_, sizeof buffer_);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;  // EAGAIN: the queue is empty
        bool dirs_changed = false;
        std::set<Key> touched;
        for (char* p = buffer_; p < buffer_ + n;) {
            const auto& event = *reinterpret_cast<const ::inotify_event*>(p);
            handle(event, dirs_changed, touched);
            p += sizeof(::inotify_event) + event.len;
        }
        // A touched file may be a symlink that now points elsewhere: follow it. (Should
        // that hit the watch limit, the new directory stays unwatched.)
        std::string ignored;
        for (const auto& key : touched) place(key, ignored);
        if (dirs_changed || !touched.empty()) recover();
    }
}

void InotifyHub::failed(const std::string& message) {
    try {
        std::lock_guard lock(mutex_);
        std::set<Tracker*> told;
        for (const auto& [key, where] : placed_) {
            if (told.insert(key.first).second) key.first->fault(message + "; re-reading every watched file");
            key.first->touch(key.second);
        }
    } catch (...) {
    }
}

void InotifyHub::handle(const ::inotify_event& event, bool& dirs_changed, std::set<Key>& touched) {
    if (event.mask & IN_Q_OVERFLOW) {
        overflowed();
        dirs_changed = true;
        return;
    }
    auto found = dir_by_wd_.find(event.wd);
    if (found == dir_by_wd_.end()) return;  // a watch already dropped
    Dir& dir = dirs_[found->second];
    if (event.mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) {
        // A moved directory keeps its watch (it follows the inode): drop it, since events
        // from its new location are no longer about the watched paths.
        if (event.mask & IN_MOVE_SELF) ::inotify_rm_watch(fd_, event.wd);
        lose(dir);
        dirs_changed = true;
        return;
    }
    if (event.len == 0) return;
    auto named = dir.names.find(event.name);
    if (named != dir.names.end()) {
        Touch how = what_happened(event, found->second);
        for (const auto& s : named->second) {
            s.tracker->touch(s.path, how);
            touched.insert(Key{s.tracker, s.path});
        }
    }
    if ((event.mask & IN_ISDIR) && (event.mask & (IN_CREATE | IN_MOVED_TO))) dirs_changed = true;
}

void InotifyHub::overflowed() {
    // Events were dropped: any file may have changed, any directory may be gone.
    rewatch_all();
    std::set<Tracker*> told;
    for (const auto& [key, where] : placed_) {
        key.first->touch(key.second);
        if (told.insert(key.first).second) {
            key.first->notice("the inotify event queue overflowed (fs.inotify.max_queued_events); "
                              "re-reading every watched file");
        }
    }
}

bool InotifyHub::attach(const std::string& dir_path, Dir& dir, int& error) {
    if (dir.wd >= 0) return true;
    int wd = ::inotify_add_watch(fd_, dir_path.c_str(), dir_mask);
    if (wd < 0) {
        error = errno;
        return false;
    }
    dir.wd = wd;
    dir_by_wd_[wd] = dir_path;
    return true;
}

void InotifyHub::lose(Dir& dir) {
    if (dir.wd < 0) return;
    dir_by_wd_.erase(dir.wd);
    dir.wd = -1;
    touch_all(dir);  // gone for good shows up as Deleted after the quiet period
}

void InotifyHub::touch_all(const Dir& dir) {
    for (const auto& [name, subscribers] : dir.names) {
        for (const auto& s : subscribers) s.tracker->touch(s.path);
    }
}

void InotifyHub::recover() {
    attach_lost();
    anchor_lost();
    // A directory can come back between the first attempt and the anchor's watch.
    if (attach_lost()) anchor_lost();
}

bool InotifyHub::attach_lost() {
    bool any = false;
    for (auto& [dir_path, dir] : dirs_) {
        if (dir.wd >= 0 || dir.names.empty()) continue;
        int error = 0;
        if (attach(dir_path, dir, error)) {
            touch_all(dir);  // its files may have been written before the watch existed
            any = true;
        }
    }
    return any;
}

void InotifyHub::anchor_lost() {
    std::set<std::string> needed;
    for (const auto& [dir_path, dir] : dirs_) {
        if (dir.wd >= 0 || dir.names.empty()) continue;
        for (fs::path p = fs::path(dir_path).parent_path();; p = p.parent_path()) {
            if (exists(p.string())) {
                needed.insert(p.string());
                break;
            }
            if (p == p.parent_path()) break;
        }
    }
    for (const auto& anchor : needed) {
        int error = 0;
        attach(anchor, dirs_[anchor], error);  // without a watch we cannot do better
    }
    std::vector<std::string> unused;
    for (const auto& [dir_path, dir] : dirs_) {
        if (dir.names.empty() && !needed.count(dir_path)) unused.push_back(dir_path);
    }
    for (const auto& dir_path : unused) drop_if_unused(dir_path);
}

void InotifyHub::drop_if_unused(const std::string& dir_path) {
    auto it = dirs_.find(dir_path);
    if (it == dirs_.end() || !it->second.names.empty()) return;
    if (it->second.wd >= 0) {
        ::inotify_rm_watch(fd_, it->second.wd);
        dir_by_wd_.erase(it->second.wd);
    }
    dirs_.erase(it);
}

void InotifyHub::rewatch_all() {
    // inotify_add_watch returns the existing wd for the same inode, and a new one when
    // the directory was replaced while events were being dropped.
    for (auto& [dir_path, dir] : dirs_) {
        int wd = ::inotify_add_watch(fd_, dir_path.c_str(), dir_mask);
        if (wd == dir.wd) continue;
        if (dir.wd >= 0) {
            ::inotify_rm_watch(fd_, dir.wd);
            dir_by_wd_.erase(dir.wd);
        }
        dir.wd = wd < 0 ? -1 : wd;
        if (wd >= 0) dir_by_wd_[wd] = dir_path;
    }
}

}  // namespace jurigged::watch

#endif  // __linux__
