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

static void bind_watcher(nb::module_&) {}

// ---- patcher ------------------------------------------------------------------------

static void bind_patcher(nb::module_&) {}

NB_MODULE(_core, m) {
    m.doc() = "jurigged's C++ engine";
    bind_source(m);
    bind_watcher(m);
    bind_patcher(m);
}
