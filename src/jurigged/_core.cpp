// The binding module jurigged._core: the only C++ file that sees Python. It converts
// plain data between the engine (engine/) and Python, releases the GIL around blocking
// or CPU-heavy engine calls, and holds the CPython-specific code of the patcher.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

namespace nb = nanobind;

// ---- source model -------------------------------------------------------------------

static void bind_source(nb::module_&) {}

// ---- watcher ------------------------------------------------------------------------

// Included here rather than at the top so that this section merges on its own.
#include <algorithm>
#include <chrono>

#include "watch/watcher.hpp"

static const char* watch_event_kind(jurigged::watch::Event::Kind kind) {
    using Kind = jurigged::watch::Event::Kind;
    switch (kind) {
    case Kind::Changed: return "changed";
    case Kind::Deleted: return "deleted";
    case Kind::Error: return "error";
    case Kind::Notice: return "notice";
    }
    return "notice";
}

static unsigned long watcher_main_thread_ident = 0;  // set by bind_watcher

// The main thread waits in slices so that Ctrl-C still interrupts a wait(-1) there;
// other threads block for the whole timeout (no wakeups while idle).
static std::vector<jurigged::watch::Event> wait_for_watch_events(jurigged::watch::Watcher& watcher,
                                                                 int timeout_ms) {
    constexpr int signal_check_ms = 200;
    if (PyThread_get_thread_ident() != watcher_main_thread_ident) {
        nb::gil_scoped_release released;
        return watcher.wait(timeout_ms);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        int slice = signal_check_ms;
        if (timeout_ms >= 0) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            slice = static_cast<int>(std::clamp<long long>(left.count(), 0, signal_check_ms));
        }
        std::vector<jurigged::watch::Event> events;
        {
            nb::gil_scoped_release released;
            events = watcher.wait(slice);
        }
        if (!events.empty() || watcher.closed()) return events;
        if (PyErr_CheckSignals() != 0) throw nb::python_error();
        if (timeout_ms >= 0 && std::chrono::steady_clock::now() >= deadline) return events;
    }
}

static void bind_watcher(nb::module_& m) {
    using jurigged::watch::Watcher;
    watcher_main_thread_ident =
        nb::cast<unsigned long>(nb::module_::import_("threading").attr("main_thread")().attr("ident"));
    nb::class_<Watcher>(m, "Watcher",
                        "Watches files on a native thread and reports, in debounced batches, "
                        "those whose content changed, disappeared or became unreadable.")
        .def(
            "__init__",
            [](Watcher* self, int debounce_ms, int poll_ms) {
                jurigged::watch::Options options;
                options.debounce_ms = debounce_ms;
                options.poll_ms = poll_ms;
                new (self) Watcher(options);
            },
            nb::arg("debounce_ms") = 50, nb::arg("poll_ms") = 0)
        .def(
            "add",
            [](Watcher& self, const std::string& path, nb::bytes baseline) {
                std::string content(baseline.c_str(), baseline.size());
                nb::gil_scoped_release released;
                self.add(path, content);
            },
            nb::arg("path"), nb::arg("baseline"))
        .def("remove", &Watcher::remove, nb::arg("path"), nb::call_guard<nb::gil_scoped_release>())
        .def(
            "wait",
            [](Watcher& self, int timeout_ms) {
                nb::list batch;
                for (const auto& event : wait_for_watch_events(self, timeout_ms)) {
                    batch.append(nb::make_tuple(watch_event_kind(event.kind), event.path,
                                                nb::bytes(event.content.data(), event.content.size()),
                                                event.message));
                }
                return batch;
            },
            nb::arg("timeout_ms") = -1)
        .def("close", &Watcher::close, nb::call_guard<nb::gil_scoped_release>())
        .def_prop_ro("polling", &Watcher::polling)
        .def_prop_ro("closed", &Watcher::closed);
}

// ---- patcher ------------------------------------------------------------------------

static void bind_patcher(nb::module_&) {}

NB_MODULE(_core, m) {
    m.doc() = "jurigged's C++ engine";
    bind_source(m);
    bind_watcher(m);
    bind_patcher(m);
}
