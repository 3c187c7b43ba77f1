// What a source of file events must do: watch the files it is given and touch them in
// the Tracker when they may have changed. Linux inotify and polling exist; FSEvents or
// ReadDirectoryChangesW backends would implement the same interface.
#pragma once

#include <memory>
#include <string>

namespace jurigged::watch {

class Tracker;

class Backend {
public:
    virtual ~Backend() = default;

    // False (with `why`) when this backend ran out of resources for the file (the inotify
    // watch limit): the Watcher then falls back to polling.
    virtual bool watch(const std::string& path, std::string& why) = 0;
    virtual void unwatch(const std::string& path) = 0;
    virtual bool polling() const = 0;
};

// nullptr with `why` set when the platform's native notification cannot be used.
std::unique_ptr<Backend> make_native_backend(Tracker& tracker, std::string& why);

std::unique_ptr<Backend> make_poll_backend(Tracker& tracker, int interval_ms);

}  // namespace jurigged::watch
