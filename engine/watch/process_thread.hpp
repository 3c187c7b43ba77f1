// A std::thread that belongs to the process that started it. After fork() the child
// holds the object but not the thread: joining it there is undefined behaviour, and
// signalling it through shared descriptors would reach the parent's thread instead, so
// code running in the child checks forked() and the child just forgets the thread.
#pragma once

#include <memory>
#include <thread>
#include <unistd.h>
#include <utility>

namespace jurigged::watch {

class ProcessThread {
public:
    template <class Body>
    explicit ProcessThread(Body&& body)
        : owner_(::getpid()), thread_(std::make_unique<std::thread>(std::forward<Body>(body))) {}

    ~ProcessThread() {
        if (forked()) {
            (void)thread_.release();  // no thread behind it here; destroying it would terminate
        } else {
            join();
        }
    }

    ProcessThread(const ProcessThread&) = delete;
    ProcessThread& operator=(const ProcessThread&) = delete;

    // True in a child process forked after the thread started.
    bool forked() const { return ::getpid() != owner_; }

    void join() {
        if (forked() || !thread_->joinable() || thread_->get_id() == std::this_thread::get_id()) return;
        thread_->join();
    }

private:
    const pid_t owner_;
    std::unique_ptr<std::thread> thread_;
};

}  // namespace jurigged::watch
