// The binding module jurigged._core: the only C++ file that sees Python. It converts
// plain data between the engine (engine/) and Python, releases the GIL around blocking
// or CPU-heavy engine calls, and holds the CPython-specific code of the patcher.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace nb = nanobind;
using namespace nb::literals;

// ---- source model -------------------------------------------------------------------

#include "source/lines.hpp"
#include "source/model.hpp"

namespace source_binding {

namespace src = jurigged::source;

// A tree holding many nodes no other tree shares is freed on a short-lived native
// thread: thousands of nodes' strings and vectors would otherwise be freed while the
// program waits for the GIL. (A tree parsed against another shares most of its nodes.)
void free_off_the_gil(src::Tree&& tree) {
    constexpr std::size_t small = 256;
    if (tree.nodes.owned() < small) return;
    try {
        std::thread([doomed = std::move(tree)]() mutable { doomed.nodes = src::NodeTable(); }).detach();
    } catch (...) {
        // no thread to be had: the tree is freed here, as it would have been
    }
}

// A parsed tree as Python sees it. Its nodes become Python objects only when read
// (tree.nodes is a view): a save reads the few nodes that changed, not the file.
struct ChangesData;
struct PyTree {
    src::Tree tree;
    // parse(against=old) computed the changes from `old` while the GIL was released
    std::shared_ptr<ChangesData> early;
    const PyTree* early_against = nullptr;
    PyTree(src::Tree&& t) : tree(std::move(t)) {}
    PyTree(PyTree&&) = default;
    ~PyTree() { free_off_the_gil(std::move(tree)); }
};

struct NodeView {
    PyTree* owner;
    std::size_t size() const { return owner->tree.nodes.size(); }
    // A copy: a node shared with another tree is stored with that tree's positions.
    src::Node at(Py_ssize_t index) const {
        Py_ssize_t n = static_cast<Py_ssize_t>(size());
        if (index < 0) index += n;
        if (index < 0 || index >= n) throw nb::index_error("node index out of range");
        return owner->tree.nodes[static_cast<std::size_t>(index)].materialize();
    }
};

// The diff restricted to what changed: the entries whose change bits are not zero,
// with their positions in the whole plan, and per old node what the rest (unchanged
// entries, never made Python objects) says.
struct ChangesData;
struct PyChanges;
ChangesData compute_changes(const src::Tree& old_tree, const src::Tree& new_tree);
PyChanges finish_changes(ChangesData&& data);

struct PyChanges {
    nb::list entries;    // (change, old index, new index), change != 0, in plan order
    nb::list positions;  // of each entry in the whole plan
    std::vector<int> new_of_old;     // -1: deleted (or inside a deleted node)
    std::vector<int> old_of_new;     // -1: added (or inside an added node)
    std::vector<int> position_of_old;
    std::vector<std::uint8_t> unchanged_old;
    std::vector<int> uncarried;  // old functions whose live code a save does not carry
    int unchanged_count = 0;

    int checked(int old_index) const {
        if (old_index < 0 || old_index >= static_cast<int>(new_of_old.size()))
            throw nb::index_error("old node index out of range");
        return old_index;
    }
};

// The GIL-free part of changes(): the plan and the per-node tables.
struct ChangesData {
    src::Plan plan;
    std::vector<int> new_of_old, old_of_new, position_of_old, uncarried;
    std::vector<std::uint8_t> unchanged_old;
};

bool is_function(src::Kind kind) {
    return kind == src::Kind::Function || kind == src::Kind::AsyncFunction;
}

// An old function's live code is carried to the next tree when its entry is unchanged
// and it is not nested in a function (nested code is never tracked by name). Read from
// the tree's list of nested functions and the plan's changed entries (a deleted node's
// descendants have none), not from every node.
std::vector<int> uncarried_functions(const src::Tree& old_tree, const src::Plan& plan) {
    const auto& nodes = old_tree.nodes;
    std::vector<int> out(old_tree.nested_functions);
    for (const src::PlanEntry& e : plan.entries) {
        if (e.old_index <= 0 || (e.change == 0 && e.new_index >= 0)) continue;
        if (is_function(nodes[static_cast<std::size_t>(e.old_index)]->kind)) out.push_back(e.old_index);
        if (e.new_index >= 0) continue;
        for (std::size_t k = static_cast<std::size_t>(e.old_index) + 1;
             k < nodes.size() && nodes[k].parent() >= e.old_index; ++k)
            if (is_function(nodes[k]->kind)) out.push_back(static_cast<int>(k));
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

const char* kind_name(src::Kind kind) {
    switch (kind) {
        case src::Kind::Module: return "module";
        case src::Kind::Class: return "class";
        case src::Kind::Function: return "function";
        case src::Kind::AsyncFunction: return "async function";
        case src::Kind::Block: return "block";
        case src::Kind::Statement: return "statement";
    }
    return "statement";
}

// The text of 1-based line `line` in raw source bytes (any line ending), for
// SyntaxError.text; decoding problems become U+FFFD.
nb::object source_line(std::string_view raw, int line) {
    std::size_t pos = 0;
    for (int current = 1; current < line && pos < raw.size(); ++pos) {
        if (raw[pos] == '\n' || (raw[pos] == '\r' && (pos + 1 >= raw.size() || raw[pos + 1] != '\n')))
            ++current;
    }
    std::size_t end = pos;
    while (end < raw.size() && raw[end] != '\n' && raw[end] != '\r') ++end;
    PyObject* text = PyUnicode_DecodeUTF8(raw.data() + pos, static_cast<Py_ssize_t>(end - pos), "replace");
    if (!text) throw nb::python_error();
    return nb::steal(text);
}

// Python folds identifiers to NFKC ("Ŀ" is "L·"); the engine keeps them as written,
// so names reach Python folded like CPython's own.
// The nodes a parse made, as opposed to those an incremental parse copied from the tree
// it was parsed against (whose names were folded then): [begin, end).
struct FreshNodes {
    std::size_t begin, end;
};
FreshNodes fresh_nodes(const src::Tree& tree) {
    const src::Reuse& reuse = tree.reuse;
    if (reuse.against == 0) return {0, tree.nodes.size()};
    return {static_cast<std::size_t>(reuse.prefix_end), static_cast<std::size_t>(reuse.new_suffix_begin)};
}

void fold_identifiers(src::Tree& tree) {
    nb::object normalize;
    auto fold = [&](std::string& text) {
        if (!normalize.is_valid()) normalize = nb::module_::import_("unicodedata").attr("normalize");
        text = nb::cast<std::string>(normalize("NFKC", nb::str(text.c_str(), text.size())));
    };
    FreshNodes fresh = fresh_nodes(tree);
    for (std::size_t index = fresh.begin; index < fresh.end; ++index) {
        src::Node* node = tree.nodes.fresh(index);
        if (!node) continue;  // shared: folded when it was parsed
        bool ascii = true;
        for (char c : node->qualname) ascii &= static_cast<unsigned char>(c) < 0x80;
        if (ascii) continue;
        fold(node->name);
        fold(node->qualname);
    }
}

[[noreturn]] void raise_syntax_error(const src::SyntaxError& error, std::string_view raw,
                                     const std::string& filename) {
    nb::object text = source_line(raw, error.line);
    // Python's offset is 1-based and counts characters, the model's column counts bytes
    nb::bytes line_bytes = nb::borrow<nb::bytes>(
        nb::steal(PyUnicode_AsEncodedString(text.ptr(), "utf-8", "replace")));
    std::size_t byte_col = static_cast<std::size_t>(error.col < 0 ? 0 : error.col);
    if (byte_col > line_bytes.size()) byte_col = line_bytes.size();
    PyObject* prefix = PyUnicode_DecodeUTF8(line_bytes.c_str(), static_cast<Py_ssize_t>(byte_col), "replace");
    if (!prefix) throw nb::python_error();
    Py_ssize_t offset = PyUnicode_GetLength(prefix) + 1;
    Py_DECREF(prefix);
    nb::object details = nb::make_tuple(filename, error.line, offset, text);
    PyObject* type = error.error_class == src::ErrorClass::Tab           ? PyExc_TabError
                     : error.error_class == src::ErrorClass::Indentation ? PyExc_IndentationError
                                                                         : PyExc_SyntaxError;
    nb::object exception = nb::handle(type)(error.message, details);
    PyErr_SetObject(type, exception.ptr());
    throw nb::python_error();
}

ChangesData compute_changes(const src::Tree& old_tree, const src::Tree& new_tree) {
    ChangesData d;
    std::size_t old_size = old_tree.nodes.size();
    d.new_of_old.assign(old_size, -1);
    d.position_of_old.assign(old_size, -1);
    d.unchanged_old.assign(old_size, 0);
    d.old_of_new.assign(new_tree.nodes.size(), -1);
    d.plan = src::diff(old_tree, new_tree);
    for (std::size_t position = 0; position < d.plan.entries.size(); ++position) {
        const src::PlanEntry& e = d.plan.entries[position];
        if (e.new_index >= 0) d.old_of_new[e.new_index] = e.old_index;
        if (e.old_index < 0) continue;
        d.new_of_old[e.old_index] = e.new_index;
        d.position_of_old[e.old_index] = static_cast<int>(position);
        d.unchanged_old[e.old_index] = e.change == 0 && e.new_index >= 0;
    }
    d.uncarried = uncarried_functions(old_tree, d.plan);
    return d;
}

PyChanges finish_changes(ChangesData&& d) {
    PyChanges out;
    for (std::size_t position = 0; position < d.plan.entries.size(); ++position) {
        const src::PlanEntry& e = d.plan.entries[position];
        if (e.change == 0) {
            ++out.unchanged_count;
            continue;
        }
        out.entries.append(nb::make_tuple(e.change, e.old_index, e.new_index));
        out.positions.append(static_cast<int>(position));
    }
    out.new_of_old = std::move(d.new_of_old);
    out.old_of_new = std::move(d.old_of_new);
    out.position_of_old = std::move(d.position_of_old);
    out.unchanged_old = std::move(d.unchanged_old);
    out.uncarried = std::move(d.uncarried);
    return out;
}

bool has_non_ascii_names(const src::Tree& tree) {
    FreshNodes fresh = fresh_nodes(tree);
    for (std::size_t index = fresh.begin; index < fresh.end; ++index) {
        for (char c : tree.nodes[index]->qualname) {
            if (static_cast<unsigned char>(c) >= 0x80) return true;
        }
    }
    return false;
}

}  // namespace source_binding

static void bind_source(nb::module_& m) {
    using namespace source_binding;

    nb::class_<src::Node>(m, "Node", "One definition, block or statement of a parsed source.")
        .def_prop_ro("kind", [](const src::Node& n) { return kind_name(n.kind); })
        .def_ro("name", &src::Node::name)
        .def_ro("qualname", &src::Node::qualname)
        .def_ro("parent", &src::Node::parent)
        .def_ro("children", &src::Node::children)
        .def_prop_ro("line", [](const src::Node& n) { return n.span.line; })
        .def_prop_ro("col", [](const src::Node& n) { return n.span.col; })
        .def_prop_ro("end_line", [](const src::Node& n) { return n.span.end_line; })
        .def_prop_ro("end_col", [](const src::Node& n) { return n.span.end_col; })
        .def_ro("def_line", &src::Node::def_line)
        .def_ro("def_col", &src::Node::def_col)
        .def_ro("body_line", &src::Node::body_line)
        .def_ro("decorators_hash", &src::Node::decorators_hash)
        .def_ro("header_hash", &src::Node::header_hash)
        .def_ro("body_hash", &src::Node::body_hash)
        .def_ro("layout_hash", &src::Node::layout_hash)
        .def("__repr__", [](const src::Node& n) {
            return std::string("<Node ") + kind_name(n.kind) + (n.qualname.empty() ? "" : " " + n.qualname) +
                   " " + std::to_string(n.span.line) + "-" + std::to_string(n.span.end_line) + ">";
        });

    nb::class_<NodeView>(m, "Nodes", "The nodes of a Tree, made Python objects as they are read.")
        .def("__len__", &NodeView::size)
        .def("__getitem__", [](const NodeView& v, Py_ssize_t index) { return v.at(index); })
        .def("__getitem__", [](nb::handle self, nb::slice slice) {
            const NodeView& v = nb::cast<const NodeView&>(self);
            auto [start, stop, step, count] = slice.compute(v.size());
            nb::list out;
            for (std::size_t k = 0; k < count; ++k, start += step)
                out.append(nb::cast(v.at(static_cast<Py_ssize_t>(start)), nb::rv_policy::move));
            return out;
        });  // iterated through __getitem__ (the sequence protocol)

    nb::class_<PyTree>(m, "Tree", "The definition tree of one source; nodes[0] is the module.")
        .def_prop_ro("nodes", [](PyTree& t) { return NodeView{&t}; }, nb::rv_policy::move, nb::keep_alive<0, 1>())
        .def_prop_ro("line_count", [](const PyTree& t) { return t.tree.line_count; })
        .def_prop_ro("text_is_source", [](const PyTree& t) { return t.tree.text_is_source; },
                     "Whether the parsed bytes are the text itself (strict UTF-8, no BOM or '\\r').")
        .def_prop_ro("line_starts", [](const PyTree& t) {
            const std::vector<std::uint32_t>& starts = t.tree.line_starts;
            return nb::bytes(reinterpret_cast<const char*>(starts.data()), starts.size() * sizeof(std::uint32_t));
        }, "line_starts() of the tree's text, made with it (off the GIL, and from the old\n"
           "tree's when parsed against one).")
        .def_prop_ro("reused_nodes", [](const PyTree& t) {
            const src::Reuse& r = t.tree.reuse;
            if (r.against == 0) return 0;
            return r.prefix_end - 1 + static_cast<int>(t.tree.nodes.size()) - r.new_suffix_begin;
        });

    nb::class_<PyChanges>(m, "Changes", "diff() restricted to the entries that changed (see changes()).")
        .def_ro("entries", &PyChanges::entries)
        .def_ro("positions", &PyChanges::positions)
        .def_ro("uncarried_functions", &PyChanges::uncarried)
        .def_ro("unchanged_count", &PyChanges::unchanged_count)
        .def("new_index", [](const PyChanges& c, int o) { return c.new_of_old[c.checked(o)]; }, nb::arg("old"))
        .def("old_index", [](const PyChanges& c, int n) {
            if (n < 0 || n >= static_cast<int>(c.old_of_new.size())) throw nb::index_error("new node index out of range");
            return c.old_of_new[n];
        }, nb::arg("new"))
        .def("unchanged", [](const PyChanges& c, int o) { return c.unchanged_old[c.checked(o)] != 0; }, nb::arg("old"))
        .def("position", [](const PyChanges& c, int o) { return c.position_of_old[c.checked(o)]; }, nb::arg("old"));

    m.def(
        "parse",
        [](nb::bytes source, std::string filename, bool utf8, PyTree* against, int python_minor) {
            // the bytes object outlives the call and is immutable: read in place, not copied
            std::string_view raw(source.c_str(), source.size());
            src::ParseResult result;
            std::shared_ptr<ChangesData> early;
            {
                // One release of the GIL for the parse and, with `against`, the diff;
                // not for a small file, whose parse (~0.1 ms at 16 KiB from scratch)
                // is shorter than giving the GIL to a program waiting for it and
                // getting it back.
                constexpr std::size_t release_from_bytes = 16 * 1024;
                std::optional<nb::gil_scoped_release> unlocked;
                if (raw.size() >= release_from_bytes) unlocked.emplace();
                result = against ? src::parse(raw, utf8, python_minor, against->tree)
                                 : src::parse(raw, utf8, python_minor);
                // Names are folded to NFKC in Python: then the diff waits for that.
                if (against && result.tree && !has_non_ascii_names(*result.tree))
                    early = std::make_shared<ChangesData>(compute_changes(against->tree, *result.tree));
            }
            if (result.error) raise_syntax_error(*result.error, raw, filename);
            fold_identifiers(*result.tree);
            PyTree tree(std::move(*result.tree));
            tree.early = std::move(early);
            tree.early_against = tree.early ? against : nullptr;
            return tree;
        },
        nb::arg("source"), nb::arg("filename") = "<unknown>", nb::kw_only(), nb::arg("utf8") = false,
        nb::arg("against").none() = nb::none(), nb::arg("python_minor") = PY_MINOR_VERSION,
        "Parse Python source bytes into a Tree; raises SyntaxError on invalid source. With\n"
        "utf8=True the bytes are UTF-8 text already decoded (any coding cookie is ignored).\n"
        "With against=old_tree, only the top-level statements around the bytes that differ\n"
        "from old_tree's text are parsed again (the result is the whole-file parse's), and\n"
        "changes(old_tree, result) is computed in the same release\n"
        "of the GIL (and handed over once). python_minor: the Python 3.x whose rules apply\n"
        "where versions differ (default: this one).");

    m.def(
        "diff",
        [](const PyTree& old_tree, const PyTree& new_tree) {
            src::Plan plan;
            {
                nb::gil_scoped_release unlocked;
                plan = src::diff(old_tree.tree, new_tree.tree);
            }
            nb::list entries;
            for (const src::PlanEntry& e : plan.entries)
                entries.append(nb::make_tuple(e.change, e.old_index, e.new_index));
            return entries;
        },
        nb::arg("old"), nb::arg("new"),
        "The change plan from old to new: a list of (change bits, old index, new index).");

    m.def(
        "changes",
        [](PyTree& old_tree, PyTree& new_tree) {
            if (new_tree.early && new_tree.early_against == &old_tree) {
                auto data = std::move(*new_tree.early);
                new_tree.early.reset();
                return finish_changes(std::move(data));
            }
            ChangesData data;
            {
                nb::gil_scoped_release unlocked;
                data = compute_changes(old_tree.tree, new_tree.tree);
            }
            return finish_changes(std::move(data));
        },
        nb::arg("old"), nb::arg("new"),
        "diff() without its unchanged entries: a Changes holding the changed entries and,\n"
        "per old node, its new index, whether its entry is unchanged, and its position.");

    m.def(
        "line_starts",
        [](nb::bytes text) {
            // Packed uint32 offsets (native order): 0 and one past each '\n'. One
            // object, not one per line: jurigged.parsing.SourceLines reads lines from it.
            const char* data = text.c_str();
            const size_t size = text.size();
            if (size > UINT32_MAX) throw nb::value_error("text over 4 GiB");
            std::vector<uint32_t> starts{0};
            src::append_line_starts(std::string_view(data, size), 0, starts);
            return nb::bytes(reinterpret_cast<const char*>(starts.data()),
                             starts.size() * sizeof(uint32_t));
        },
        nb::arg("text"),
        "Offsets of the line starts of `text` (0, then one past each newline), packed as\n"
        "native uint32: memoryview(result).cast('I').");

    m.attr("MOVED") = static_cast<int>(src::Moved);
    m.attr("REFORMATTED") = static_cast<int>(src::Reformatted);
    m.attr("BODY_CHANGED") = static_cast<int>(src::BodyChanged);
    m.attr("SIGNATURE_CHANGED") = static_cast<int>(src::SignatureChanged);
    m.attr("DECORATORS_CHANGED") = static_cast<int>(src::DecoratorsChanged);
    m.attr("CLASS_HEADER_CHANGED") = static_cast<int>(src::ClassHeaderChanged);
    m.attr("ADDED") = static_cast<int>(src::Added);
    m.attr("DELETED") = static_cast<int>(src::Deleted);
}

// ---- watcher ------------------------------------------------------------------------

// Included here rather than at the top so that this section merges on its own.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <sys/stat.h>

#include "watch/watcher.hpp"

static const char* watch_event_kind(jurigged::watch::Event::Kind kind) {
    using Kind = jurigged::watch::Event::Kind;
    switch (kind) {
    case Kind::Changed: return "changed";
    case Kind::Unchanged: return "unchanged";
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

// The metadata that a save's checks read (trust.py's walk of its path, checkouts.py's
// git lock), without letting go of the GIL: each os.lstat() gives it up, and while the
// program waits for it (it usually does, woken by the save) every one of those is a
// hand-over to the program and back, ~20 us, when the calls themselves take ~1 us.
static nb::tuple stat_paths(const std::vector<std::string>& paths, bool follow_symlinks, bool with_mtime) {
    nb::list out;
    for (const auto& path : paths) {
        struct stat st {};
        int status = follow_symlinks ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st);
        int error = status == 0 ? 0 : errno;
        if (status != 0) st = {};
        auto mode = static_cast<unsigned long>(st.st_mode);
        auto uid = static_cast<unsigned long>(st.st_uid);
        auto gid = static_cast<unsigned long>(st.st_gid);
        if (with_mtime) {
            long long mtime_ns = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
            out.append(nb::make_tuple(error, mode, uid, gid, mtime_ns));
        } else {
            out.append(nb::make_tuple(error, mode, uid, gid));
        }
    }
    return nb::tuple(out);
}

static void bind_watcher(nb::module_& m) {
    using jurigged::watch::Watcher;
    m.def("stat_paths", &stat_paths, nb::arg("paths"), nb::arg("follow_symlinks") = false,
          nb::arg("with_mtime") = true,
          "A tuple of (errno, st_mode, st_uid, st_gid[, st_mtime_ns]) per path (errno 0:\n"
          "found; else the rest is 0), from lstat (stat with follow_symlinks), holding the\n"
          "GIL: for the few local metadata calls of a save's checks.");
    watcher_main_thread_ident =
        nb::cast<unsigned long>(nb::module_::import_("threading").attr("main_thread")().attr("ident"));
    nb::class_<Watcher>(m, "Watcher",
                        "Watches files on a native thread and reports, in batches, "
                        "those whose content changed, disappeared or became unreadable, "
                        "each once its save is complete.")
        .def(
            "__init__",
            [](Watcher* self, int debounce_ms, int poll_ms, std::uint64_t max_file_size,
               bool report_unchanged) {
                if (max_file_size == 0) throw nb::value_error("max_file_size must be at least 1 byte");
                jurigged::watch::Options options;
                options.debounce_ms = debounce_ms;
                options.poll_ms = poll_ms;
                options.max_file_size = max_file_size;
                options.report_unchanged = report_unchanged;
                new (self) Watcher(options);
            },
            nb::arg("debounce_ms") = 0, nb::arg("poll_ms") = 0,
            nb::arg("max_file_size") = jurigged::watch::Options{}.max_file_size,
            nb::arg("report_unchanged") = false)
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
// Everything here that depends on CPython's layout of function objects sits in this
// section, gated by version, each gate saying which CPython change needs it.

// The frame struct (3.9, 3.10: f_globals) and frame accessors, for commit's check of
// the code other threads run.
#include <frameobject.h>

namespace {

// Specialized call sites cache a function's version: it must be cleared whenever the
// code, closure or defaults change, or a stale specialization runs the wrong frame.
void invalidate_function_version(PyFunctionObject* function) {
#if PY_VERSION_HEX >= 0x030C0000
    // 3.12+: setting the vectorcall resets func_version (the public way to do it).
    PyFunction_SetVectorcall(function, function->vectorcall);
#elif PY_VERSION_HEX >= 0x030B0000
    // 3.11 introduced func_version (specializing interpreter, PEP 659).
    function->func_version = 0;
#else
    (void)function;  // 3.9 and 3.10 do not specialize calls
#endif
}

Py_ssize_t free_variable_count(PyObject* code) {
#if PY_VERSION_HEX >= 0x030B0000
    // 3.11 stores the count (free variables joined the "localsplus" layout).
    return reinterpret_cast<PyCodeObject*>(code)->co_nfreevars;
#else
    return PyTuple_GET_SIZE(reinterpret_cast<PyCodeObject*>(code)->co_freevars);
#endif
}

// Code of a different kind cannot be swapped in: a generator function whose code
// becomes plain (or the reverse) breaks frames CPython has already set up for it;
// 3.13 deprecates the assignment (gh-81137) and means to forbid it.
constexpr int kKindFlags = CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR;

const char* kind_of(PyObject* code) {
    int flags = reinterpret_cast<PyCodeObject*>(code)->co_flags;
    if (flags & CO_ASYNC_GENERATOR) return "an async generator";
    if (flags & CO_COROUTINE) return "a coroutine";
    if (flags & CO_GENERATOR) return "a generator";
    return "a plain function";
}

std::string type_name(PyObject* object) { return Py_TYPE(object)->tp_name; }

[[noreturn]] void refuse_type(const std::string& where, const std::string& what) {
    throw nb::type_error((where + ": " + what).c_str());
}

[[noreturn]] void refuse_value(const std::string& where, const std::string& what) {
    throw nb::value_error((where + ": " + what).c_str());
}

// "update 2 (mod.f)": which item of the call an error is about.
std::string update_label(std::size_t index, PyObject* function) {
    std::string label = "update " + std::to_string(index);
    if (function && PyFunction_Check(function)) {
        PyObject* qualname = reinterpret_cast<PyFunctionObject*>(function)->func_qualname;
        const char* text = qualname ? PyUnicode_AsUTF8(qualname) : nullptr;
        if (text) label += std::string(" (") + text + ")";
        PyErr_Clear();
    }
    return label;
}

// ---- function updates

// One in-place function update, checked before anything is changed. Pointers are
// borrowed from the caller's arguments, which outlive the call.
struct FunctionUpdate {
    PyFunctionObject* function;
    PyObject* code;
    PyObject* closure;  // for each field: null with set_* true means "set to NULL"
    PyObject* defaults;
    PyObject* kwdefaults;
    PyObject* annotations;
    PyObject* doc;
    bool set_closure, set_defaults, set_kwdefaults, set_annotations, set_doc;
};

// commit()'s typed form of an update (bound as FunctionUpdate). Ellipsis keeps a field.
struct UpdateRecord {
    nb::object function, code, closure, defaults, kwdefaults, annotations, doc;
};

// Ellipsis keeps what the function has; None clears the field.
PyObject* field_or_null(const nb::handle& value, bool& set) {
    set = !value.is(nb::ellipsis());
    return set ? (value.is_none() ? nullptr : value.ptr()) : nullptr;
}

// Checks each update as CPython's FunctionType() and the function attribute setters
// would, against the state the function will have when its turn comes (so a function
// updated twice in one call is checked against its first update).
class UpdateChecker {
public:
    FunctionUpdate check(nb::handle item, std::size_t index) {
        std::array<nb::handle, 7> f = fields_of(item, index);
        std::string where = update_label(index, f[0].ptr());
        if (!PyFunction_Check(f[0].ptr()))
            refuse_type(where, "the target must be a function, not " + type_name(f[0].ptr()));
        if (!PyCode_Check(f[1].ptr()))
            refuse_type(where, "the code must be a code object, not " + type_name(f[1].ptr()));
        FunctionUpdate u{};
        u.function = reinterpret_cast<PyFunctionObject*>(f[0].ptr());
        u.code = f[1].ptr();
        u.closure = field_or_null(f[2], u.set_closure);
        u.defaults = field_or_null(f[3], u.set_defaults);
        u.kwdefaults = field_or_null(f[4], u.set_kwdefaults);
        u.annotations = field_or_null(f[5], u.set_annotations);
        u.doc = f[6].ptr();
        u.set_doc = !f[6].is(nb::ellipsis());

        Pending& state = pending_for(u.function);
        check_kind(where, state.code, u.code);
        if (u.set_closure) check_cells(where, u.closure);
        PyObject* closure = u.set_closure ? u.closure : state.closure;
        Py_ssize_t cells = closure ? PyTuple_GET_SIZE(closure) : 0;
        if (cells != free_variable_count(u.code))
            refuse_value(where, "the code has " + std::to_string(free_variable_count(u.code)) +
                                    " free variable(s) but the closure has " +
                                    std::to_string(cells) + " cell(s)");
        if (u.defaults && !PyTuple_Check(u.defaults))
            refuse_type(where, "defaults must be None or a tuple, not " + type_name(u.defaults));
        if (u.kwdefaults && !PyDict_Check(u.kwdefaults))
            refuse_type(where, "kwdefaults must be None or a dict, not " + type_name(u.kwdefaults));
        if (u.annotations && !PyDict_Check(u.annotations))
            refuse_type(where,
                        "annotations must be None or a dict, not " + type_name(u.annotations));
        state.code = u.code;
        state.closure = closure;
        return u;
    }

private:
    // (function, code, closure, defaults, kwdefaults, annotations, doc) of a
    // FunctionUpdate record or of a 7-tuple.
    static std::array<nb::handle, 7> fields_of(nb::handle item, std::size_t index) {
        if (nb::isinstance<UpdateRecord>(item)) {
            auto& r = nb::cast<UpdateRecord&>(item);
            std::array<nb::handle, 7> f{r.function, r.code, r.closure, r.defaults,
                                        r.kwdefaults, r.annotations, r.doc};
            for (auto& field : f)
                if (!field.ptr()) refuse_type(update_label(index, nullptr), "a FunctionUpdate field is unset");
            return f;
        }
        if (!PyTuple_Check(item.ptr()) || PyTuple_GET_SIZE(item.ptr()) != 7)
            refuse_type(update_label(index, nullptr),
                        "an update is a FunctionUpdate or a tuple (function, code, closure, "
                        "defaults, kwdefaults, annotations, doc)");
        std::array<nb::handle, 7> f;
        for (std::size_t i = 0; i < 7; ++i) f[i] = PyTuple_GET_ITEM(item.ptr(), i);
        return f;
    }

    struct Pending {
        PyObject* code;
        PyObject* closure;
    };

    Pending& pending_for(PyFunctionObject* function) {
        auto found = pending_.find(function);
        if (found == pending_.end())
            found = pending_.emplace(function, Pending{function->func_code, function->func_closure})
                        .first;
        return found->second;
    }

    static void check_kind(const std::string& where, PyObject* old_code, PyObject* new_code) {
        int old_flags = reinterpret_cast<PyCodeObject*>(old_code)->co_flags;
        int new_flags = reinterpret_cast<PyCodeObject*>(new_code)->co_flags;
        if ((old_flags ^ new_flags) & kKindFlags)
            refuse_value(where, std::string("the function is ") + kind_of(old_code) +
                                    " and the new code is " + kind_of(new_code) +
                                    "; re-create the function instead of swapping its code");
    }

    // The interpreter reads closure items as cells without checking (a non-cell
    // crashes the next call), so FunctionType() checks each one; so do we.
    static void check_cells(const std::string& where, PyObject* closure) {
        if (!closure) return;
        if (!PyTuple_Check(closure))
            refuse_type(where, "closure must be None or a tuple of cells, not " + type_name(closure));
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(closure); ++i) {
            PyObject* cell = PyTuple_GET_ITEM(closure, i);
            if (!PyCell_Check(cell))
                refuse_type(where, "closure item " + std::to_string(i) + " must be a cell, not " +
                                       type_name(cell));
        }
    }

    std::unordered_map<PyFunctionObject*, Pending> pending_;
};

// ---- name bindings

// The type of _core.UNBIND: a binding to it deletes the name.
struct Unbind {};

// namespace[name] = value (or its deletion), applied by commit() with the swaps.
struct Binding {
    nb::object scope;
    nb::object name;
    nb::object value;
};

// A binding checked by commit(). Borrowed pointers, like FunctionUpdate.
struct CheckedBinding {
    PyObject* scope;
    bool is_class;
    PyObject* name;
    PyObject* value;  // null: delete the name, if it is there
};

std::string binding_label(std::size_t index, PyObject* name) {
    std::string label = "binding " + std::to_string(index);
    const char* text = name && PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : nullptr;
    if (text) label += std::string(" (") + text + ")";
    PyErr_Clear();
    return label;
}

// A dict whose keys are all exact str compares keys without running Python code (no
// user __eq__ or __hash__), so a store into it cannot run anything either.
bool has_only_str_keys(PyObject* dict) {
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(dict, &pos, &key, &value))
        if (!PyUnicode_CheckExact(key)) return false;
    return true;
}

// The __dict__ of a heap type (tp_dict is valid for heap types on every version).
PyObject* class_dict(PyObject* cls) { return reinterpret_cast<PyTypeObject*>(cls)->tp_dict; }

// Checks bindings so that applying them runs no Python code and cannot be refused by
// CPython: setattr on a class only goes through type's own __setattr__ (which updates
// the type's caches and slots), never a metaclass's Python code or a descriptor.
class BindingChecker {
public:
    CheckedBinding check(nb::handle item, std::size_t index) {
        PyObject *scope = nullptr, *name = nullptr, *value = nullptr;
        if (nb::isinstance<Binding>(item)) {
            auto& b = nb::cast<Binding&>(item);
            scope = b.scope.ptr(), name = b.name.ptr(), value = b.value.ptr();
        } else if (PyTuple_Check(item.ptr()) && PyTuple_GET_SIZE(item.ptr()) == 3) {
            scope = PyTuple_GET_ITEM(item.ptr(), 0);
            name = PyTuple_GET_ITEM(item.ptr(), 1);
            value = PyTuple_GET_ITEM(item.ptr(), 2);
        } else {
            refuse_type(binding_label(index, nullptr),
                        "a binding is a Binding or a tuple (namespace, name, value)");
        }
        std::string where = binding_label(index, name);
        if (!scope || !name || !value) refuse_type(where, "a Binding field is unset");
        if (!PyUnicode_CheckExact(name))
            refuse_type(where, "the name must be a str, not " + type_name(name));
        CheckedBinding b{scope, false, name, nb::isinstance<Unbind>(value) ? nullptr : value};
        if (PyDict_CheckExact(scope)) {
            check_keys(where, scope, "the namespace");
        } else if (PyType_Check(scope)) {
            b.is_class = true;
            check_class(where, scope, name);
        } else {
            refuse_type(where, "the namespace must be a module dict (exact dict) or a class, not " +
                                   type_name(scope));
        }
        return b;
    }

private:
    void check_keys(const std::string& where, PyObject* dict, const std::string& what) {
        if (!checked_.insert(dict).second) return;
        if (!has_only_str_keys(dict))
            refuse_value(where, what + " has keys that are not str");
    }

    void check_class(const std::string& where, PyObject* scope, PyObject* name) {
        auto* cls = reinterpret_cast<PyTypeObject*>(scope);
        PyTypeObject* meta = Py_TYPE(scope);
        std::string class_name = cls->tp_name;
        if (meta->tp_setattro != PyType_Type.tp_setattro)
            refuse_value(where, "the metaclass " + std::string(meta->tp_name) + " of " + class_name +
                                    " has its own __setattr__ or __delattr__");
        if (!(cls->tp_flags & Py_TPFLAGS_HEAPTYPE)) refuse_type(where, class_name + " is a built-in type");
#ifdef Py_TPFLAGS_IMMUTABLETYPE
        // 3.10 lets heap types be immutable too.
        if (cls->tp_flags & Py_TPFLAGS_IMMUTABLETYPE)
            refuse_type(where, class_name + " is an immutable type");
#endif
        // A data descriptor of the metaclass (__doc__, __name__, __bases__, a property)
        // would take the store: its setter may run Python code or refuse. One is let
        // through: type's own __bases__ (C code, with type's own mro()), which may
        // still refuse new bases; commit()'s caller puts those first and retries
        // without them (see apply_bindings).
        PyObject* descriptor = _PyType_Lookup(meta, name);
        bool types_bases =
            meta == &PyType_Type && PyUnicode_CompareWithASCIIString(name, "__bases__") == 0;
        if (descriptor && Py_TYPE(descriptor)->tp_descr_set && !types_bases)
            refuse_value(where, "the name is a data descriptor of the metaclass " +
                                    std::string(meta->tp_name) + "; set it outside commit");
        // setattr looks the name up along both MROs (slot updates for dunder names).
        for (PyTypeObject* type : {cls, meta}) {
            PyObject* mro = type->tp_mro;
            for (Py_ssize_t i = 0; mro && i < PyTuple_GET_SIZE(mro); ++i) {
                auto* base = reinterpret_cast<PyTypeObject*>(PyTuple_GET_ITEM(mro, i));
                if ((base->tp_flags & Py_TPFLAGS_HEAPTYPE) && base->tp_dict)
                    check_keys(where, base->tp_dict, std::string("the __dict__ of ") + base->tp_name);
            }
        }
    }

    std::unordered_set<PyObject*> checked_;  // dicts already known to have only str keys
};

// What a binding's name is bound to now (borrowed), or null.
PyObject* bound_value(const CheckedBinding& b) {
    PyObject* dict = b.is_class ? class_dict(b.scope) : b.scope;
    return dict ? PyDict_GetItem(dict, b.name) : nullptr;
}

// Bind (value) or unbind (null) the name; -1 with a Python error on failure.
int store(const CheckedBinding& b, PyObject* value) {
    if (value)
        return b.is_class ? PyObject_SetAttr(b.scope, b.name, value)
                          : PyDict_SetItem(b.scope, b.name, value);
    if (!bound_value(b)) return 0;
    return b.is_class ? PyObject_DelAttr(b.scope, b.name) : PyDict_DelItem(b.scope, b.name);
}

// Applies the bindings in order, keeping each replaced value (a new reference, added
// to `held`) so that nothing is finalised until the caller releases them. Checked
// bindings fail only when memory runs out; then those already applied are undone
// (best effort) and the error is raised before any function is swapped.
void apply_bindings(const std::vector<CheckedBinding>& bindings, std::vector<PyObject*>& held) {
    std::size_t first_held = held.size();
    for (std::size_t i = 0; i < bindings.size(); ++i) {
        PyObject* old = bound_value(bindings[i]);
        Py_XINCREF(old);
        held.push_back(old);  // capacity reserved: never allocates here
        if (store(bindings[i], bindings[i].value) == 0) continue;
        nb::python_error error;  // takes the error indicator
        // Binding i too: a class's dict may be updated before its slots fail.
        for (std::size_t j = i + 1; j-- > 0;) {
            if (store(bindings[j], held[first_held + j]) != 0) PyErr_Clear();
        }
        throw error;
    }
}

// The references commit() holds to replaced values, released when it returns or
// raises: after the last change, so no finalizer sees a half-applied save.
struct HeldReferences {
    std::vector<PyObject*> refs;
    ~HeldReferences() {
        for (PyObject* old : refs) Py_XDECREF(old);
    }
};

void swap_field(PyObject*& field, PyObject* value, std::vector<PyObject*>& held) {
    Py_XINCREF(value);
    held.push_back(field);  // capacity reserved: never allocates here
    field = value;
}

void swap_function(const FunctionUpdate& u, std::vector<PyObject*>& held) {
    PyFunctionObject* f = u.function;
    invalidate_function_version(f);
    if (u.set_closure) swap_field(f->func_closure, u.closure, held);
    swap_field(f->func_code, u.code, held);
    if (u.set_defaults) swap_field(f->func_defaults, u.defaults, held);
    if (u.set_kwdefaults) swap_field(f->func_kwdefaults, u.kwdefaults, held);
    if (u.set_annotations) swap_field(f->func_annotations, u.annotations, held);
    if (u.set_doc) swap_field(f->func_doc, u.doc, held);
}

// A binding held back while code running in another thread reads its name: the
// namespace is the globals that code reads the name from.
struct HoldIfRead {
    nb::handle item;  // the (namespace, binding) pair, returned as it came
    PyObject* namespace_;
    PyObject* binding;
    PyObject* name;
};

std::vector<HoldIfRead> checked_holds(const nb::tuple& pairs) {
    std::vector<HoldIfRead> holds;
    holds.reserve(nb::len(pairs));
    for (nb::handle item : pairs) {
        if (!PyTuple_Check(item.ptr()) || PyTuple_GET_SIZE(item.ptr()) != 2 ||
            !nb::isinstance<Binding>(PyTuple_GET_ITEM(item.ptr(), 1)))
            throw nb::type_error("hold_if_read: each item is a (namespace, Binding) pair");
        PyObject* binding = PyTuple_GET_ITEM(item.ptr(), 1);
        holds.push_back({item, PyTuple_GET_ITEM(item.ptr(), 0), binding,
                         nb::cast<Binding&>(nb::handle(binding)).name.ptr()});
    }
    return holds;
}

PyObject* frame_globals(PyFrameObject* frame) {
#if PY_VERSION_HEX >= 0x030B0000
    PyObject* globals = PyFrame_GetGlobals(frame);  // new reference
    Py_XDECREF(globals);  // the frame keeps it alive; only its identity is compared
    return globals;
#else
    return frame->f_globals;
#endif
}

// Calls visit(thread state, frame, code) for every frame of every thread of this
// interpreter, innermost first (the calling thread's too if `this_thread`). Frame and
// code are borrowed for the call: each thread keeps its frames alive.
template <class Visit>
void for_each_frame(bool this_thread, Visit&& visit) {
    PyThreadState* me = PyThreadState_Get();
    PyInterpreterState* interp = PyThreadState_GetInterpreter(me);
    for (PyThreadState* ts = PyInterpreterState_ThreadHead(interp); ts;
         ts = PyThreadState_Next(ts)) {
        if (ts == me && !this_thread) continue;
        PyFrameObject* frame = PyThreadState_GetFrame(ts);  // new reference
        while (frame) {
            PyCodeObject* code = PyFrame_GetCode(frame);  // new reference
            visit(ts, frame, code);
            Py_DECREF(code);  // the frame keeps it alive
            PyFrameObject* back = PyFrame_GetBack(frame);
            Py_DECREF(frame);  // its thread keeps it alive
            frame = back;
        }
        if (PyErr_Occurred()) throw nb::python_error();
    }
}

// Whether code running in a thread other than this one (at any depth of its stack)
// reads `hold`'s name from `hold`'s namespace (its globals or attributes). Reads only
// interpreter state: no Python code runs, so the answer still holds at the store that
// follows. Frame objects it materialises (3.11+) are allocated with the GC disabled.
class ReadersElsewhere {
public:
    ReadersElsewhere() {
        for_each_frame(/*this_thread=*/false, [this](PyThreadState*, PyFrameObject* frame,
                                                     PyCodeObject* code) {
            frames_.push_back({frame_globals(frame), code->co_names});
        });
    }

    bool read(const HoldIfRead& hold) const {
        for (const auto& f : frames_) {
            if (f.globals != hold.namespace_ || !f.names || !PyTuple_Check(f.names)) continue;
            for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(f.names); ++i) {
                // Names are interned on every version; equal names are one object,
                // but compare the text so that no interning fact is relied on.
                PyObject* name = PyTuple_GET_ITEM(f.names, i);
                if (name == hold.name ||
                    (PyUnicode_CheckExact(name) && PyUnicode_Compare(name, hold.name) == 0))
                    return true;
            }
        }
        return false;
    }

private:
    struct Frame {
        PyObject* globals;  // borrowed: identity only
        PyObject* names;    // borrowed from the live code object
    };
    std::vector<Frame> frames_;
};

// Keeps the cyclic GC off for its lifetime: a collection could run finalizers (Python
// code, which may switch threads) between the in-use check and the stores.
struct NoGC {
#if PY_VERSION_HEX >= 0x030A0000
    int was_enabled = PyGC_Disable();
    ~NoGC() {
        if (was_enabled) PyGC_Enable();
    }
#else
    nb::object gc = nb::module_::import_("gc");
    bool was_enabled = nb::cast<bool>(gc.attr("isenabled")());
    NoGC() { gc.attr("disable")(); }
    ~NoGC() {
        if (was_enabled) gc.attr("enable")();
    }
#endif
};

// Apply every binding and update or none. Everything is checked first; from the first
// store to the last swap no Python code runs and no GC-tracked object is allocated,
// so no other thread (they all need the GIL) and no finalizer or weakref callback can
// observe a half-applied save. Replaced values are released only after the last swap.
// A binding paired in `hold_items` whose name code in another thread still reads is
// left out and returned (its pair): the check and the stores are one step, with no
// Python code (and so no thread switch) in between.
nb::list commit(nb::handle update_items, nb::handle binding_items, nb::handle hold_items) {
    // Own every item for the whole call: the checked records borrow from them.
    auto items = nb::steal<nb::tuple>(PySequence_Tuple(update_items.ptr()));
    if (!items.is_valid()) throw nb::python_error();
    auto binding_tuple = nb::steal<nb::tuple>(PySequence_Tuple(binding_items.ptr()));
    if (!binding_tuple.is_valid()) throw nb::python_error();
    auto hold_tuple = nb::steal<nb::tuple>(PySequence_Tuple(hold_items.ptr()));
    if (!hold_tuple.is_valid()) throw nb::python_error();
    std::vector<FunctionUpdate> updates;
    updates.reserve(nb::len(items));
    UpdateChecker update_checker;
    for (nb::handle item : items) updates.push_back(update_checker.check(item, updates.size()));

    std::vector<CheckedBinding> bindings;
    bindings.reserve(nb::len(binding_tuple));
    std::vector<PyObject*> binding_objects;
    binding_objects.reserve(nb::len(binding_tuple));
    BindingChecker binding_checker;
    for (nb::handle item : binding_tuple) {
        bindings.push_back(binding_checker.check(item, bindings.size()));
        binding_objects.push_back(item.ptr());
    }
    std::vector<HoldIfRead> holds = checked_holds(hold_tuple);

    nb::list held_back;  // allocated before the check: nothing is allocated after it
    std::unique_ptr<NoGC> no_gc;
    if (!holds.empty()) {
        no_gc = std::make_unique<NoGC>();
        ReadersElsewhere readers;
        std::unordered_set<PyObject*> skipped;
        std::vector<nb::handle> returned;
        for (const auto& hold : holds)
            if (readers.read(hold)) {
                skipped.insert(hold.binding);
                returned.push_back(hold.item);
            }
        if (!skipped.empty()) {
            std::vector<CheckedBinding> kept;
            kept.reserve(bindings.size());
            for (std::size_t i = 0; i < bindings.size(); ++i)
                if (!skipped.count(binding_objects[i])) kept.push_back(bindings[i]);
            bindings.swap(kept);
            // The list grows before the stores: appending to it allocates.
            for (nb::handle item : returned) held_back.append(item);
        }
    }

    HeldReferences held;
    held.refs.reserve(bindings.size() + updates.size() * 6);
    apply_bindings(bindings, held.refs);
    for (const auto& u : updates) swap_function(u, held.refs);
    return held_back;
}

struct ScanState {
    std::unordered_set<PyObject*> codes;
    std::vector<PyObject*> hits;
};

#if PY_VERSION_HEX >= 0x030C0000
int visit_function(PyObject* object, void* arg) {
    auto* state = static_cast<ScanState*>(arg);
    if (PyFunction_Check(object) &&
        state->codes.count(PyFunction_GET_CODE(object)))
        state->hits.push_back(object);
    return 1;
}
#endif

// Every live function whose code is one of `codes`: one pass over the heap, however
// many codes are asked about (used once per save, for closures).
nb::list functions_using(nb::iterable codes) {
    ScanState state;
    for (nb::handle code : codes) state.codes.insert(code.ptr());
#if PY_VERSION_HEX >= 0x030C0000
    // 3.12 added a visitor over GC objects: no list of the whole heap is built.
    PyUnstable_GC_VisitObjects(visit_function, &state);
    nb::list result;
    for (PyObject* f : state.hits) result.append(nb::handle(f));
#else
    nb::list result;
    nb::list everything = nb::cast<nb::list>(nb::module_::import_("gc").attr("get_objects")());
    for (nb::handle object : everything) {
        if (PyFunction_Check(object.ptr()) &&
            state.codes.count(PyFunction_GET_CODE(object.ptr())))
            result.append(object);
    }
#endif
    return result;
}

// (thread ident, frame) of every frame of every thread whose code is one of `codes`
// (by identity, as frames run them): what a walk of sys._current_frames() finds, in
// C. In Python it was one loop turn per frame, ~0.25 ms a save in a program of 20
// threads 45 frames deep.
nb::list frames_running(nb::iterable codes) {
    std::unordered_set<PyObject*> wanted;
    for (nb::handle code : codes) wanted.insert(code.ptr());
    nb::list found;
    if (wanted.empty()) return found;
    for_each_frame(/*this_thread=*/true, [&](PyThreadState* ts, PyFrameObject* frame,
                                             PyCodeObject* code) {
        if (wanted.count(reinterpret_cast<PyObject*>(code)))
            found.append(nb::make_tuple(ts->thread_id,  // the ident threading knows
                                        nb::handle(reinterpret_cast<PyObject*>(frame))));
    });
    return found;
}

}  // namespace

static void bind_patcher(nb::module_& m) {
    auto update = nb::class_<UpdateRecord>(
        m, "FunctionUpdate",
        "One function for commit() to update in place; Ellipsis (the default) keeps a "
        "field as the function has it, None clears it.");
    update.def(nb::init<nb::object, nb::object, nb::object, nb::object, nb::object, nb::object,
                        nb::object>(),
               "function"_a, "code"_a, nb::kw_only(), "closure"_a = nb::ellipsis(),
               "defaults"_a = nb::ellipsis(), "kwdefaults"_a = nb::ellipsis(),
               "annotations"_a = nb::ellipsis(), "doc"_a = nb::ellipsis());
    update.def_rw("function", &UpdateRecord::function).def_rw("code", &UpdateRecord::code)
        .def_rw("closure", &UpdateRecord::closure).def_rw("defaults", &UpdateRecord::defaults)
        .def_rw("kwdefaults", &UpdateRecord::kwdefaults)
        .def_rw("annotations", &UpdateRecord::annotations).def_rw("doc", &UpdateRecord::doc);
    nb::class_<Unbind>(m, "UnbindType", "The type of UNBIND.")
        .def("__repr__", [](const Unbind&) { return "jurigged._core.UNBIND"; });
    m.attr("UNBIND") = nb::cast(Unbind{});
    nb::class_<Binding>(m, "Binding",
                        "namespace[name] = value, applied by commit() with the swaps; "
                        "value UNBIND deletes the name.")
        .def(nb::init<nb::object, nb::object, nb::object>(), "namespace"_a, "name"_a, "value"_a)
        .def_rw("namespace", &Binding::scope)
        .def_rw("name", &Binding::name)
        .def_rw("value", &Binding::value)
        .def("__repr__", [](const Binding& b) {
            return nb::str("Binding({!r}, {!r}, {!r})").format(b.scope, b.name, b.value);
        });
    m.def("commit", &commit, "updates"_a, nb::kw_only(), "bindings"_a = nb::tuple(),
          "hold_if_read"_a = nb::tuple(),
          "Apply function updates and name bindings all at once, or raise before "
          "changing any; bindings of hold_if_read pairs (namespace, binding) whose name "
          "code in another thread reads from namespace are left out and returned.");
    m.def("functions_using", &functions_using, "codes"_a,
          "Every live function whose __code__ is one of codes (one heap pass).");
    m.def("frames_running", &frames_running, "codes"_a,
          "(thread ident, frame) of every frame of every thread that runs one of codes "
          "(compared by identity).");
}

NB_MODULE(_core, m) {
    m.doc() = "jurigged's C++ engine";
    // The function index and the watcher live in module globals until the interpreter
    // exits; nanobind would report them as leaks at shutdown.
    nb::set_leak_warnings(false);
    bind_source(m);
    bind_watcher(m);
    bind_patcher(m);
}
