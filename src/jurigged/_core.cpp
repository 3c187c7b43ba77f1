// The binding module jurigged._core: the only C++ file that sees Python. It converts
// plain data between the engine (engine/) and Python, releases the GIL around blocking
// or CPU-heavy engine calls, and holds the CPython-specific code of the patcher.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstdint>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "patch/function_index.hpp"

namespace nb = nanobind;
using namespace nb::literals;

// ---- source model -------------------------------------------------------------------

#include "source/model.hpp"

namespace source_binding {

namespace src = jurigged::source;

// A parsed tree as Python sees it: the C++ tree plus its nodes as Python objects,
// built on first access (most callers only pass trees on to diff()).
struct PyTree {
    src::Tree tree;
    nb::object nodes;
};

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
nb::object source_line(const std::string& raw, int line) {
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
void fold_identifiers(src::Tree& tree) {
    nb::object normalize;
    auto fold = [&](std::string& text) {
        if (!normalize.is_valid()) normalize = nb::module_::import_("unicodedata").attr("normalize");
        text = nb::cast<std::string>(normalize("NFKC", nb::str(text.c_str(), text.size())));
    };
    for (src::Node& node : tree.nodes) {
        bool ascii = true;
        for (char c : node.qualname) ascii &= static_cast<unsigned char>(c) < 0x80;
        if (ascii) continue;
        fold(node.name);
        fold(node.qualname);
    }
}

[[noreturn]] void raise_syntax_error(const src::SyntaxError& error, const std::string& raw,
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

    nb::class_<PyTree>(m, "Tree", "The definition tree of one source; nodes[0] is the module.")
        .def_prop_ro("nodes", [](PyTree& t) {
            if (!t.nodes.is_valid()) {
                nb::list nodes;
                for (const src::Node& node : t.tree.nodes) nodes.append(nb::cast(node));
                t.nodes = std::move(nodes);
            }
            return t.nodes;
        })
        .def_prop_ro("line_count", [](const PyTree& t) { return t.tree.line_count; });

    m.def(
        "parse",
        [](nb::bytes source, std::string filename, bool utf8) {
            std::string raw(source.c_str(), source.size());
            src::ParseResult result;
            {
                nb::gil_scoped_release unlocked;
                result = src::parse(raw, utf8);
            }
            if (result.error) raise_syntax_error(*result.error, raw, filename);
            fold_identifiers(*result.tree);
            return PyTree{std::move(*result.tree), nb::object()};
        },
        nb::arg("source"), nb::arg("filename") = "<unknown>", nb::kw_only(), nb::arg("utf8") = false,
        "Parse Python source bytes into a Tree; raises SyntaxError on invalid source. With\n"
        "utf8=True the bytes are UTF-8 text already decoded (any coding cookie is ignored).");

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
// Everything here that depends on CPython's layout of function objects sits in this
// section, gated by version, each gate saying which CPython change needs it.

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

// Whether `weakref` still refers to the object at `address`.
bool weakref_points_to(PyObject* weakref, std::uintptr_t address) {
#if PY_VERSION_HEX >= 0x030D0000
    PyObject* target = nullptr;
    if (PyWeakref_GetRef(weakref, &target) <= 0) return false;
    bool same = reinterpret_cast<std::uintptr_t>(target) == address;
    Py_DECREF(target);
    return same;
#else
    PyObject* target = PyWeakref_GetObject(weakref);
    return target != Py_None && reinterpret_cast<std::uintptr_t>(target) == address;
#endif
}

std::uintptr_t handle_of(const nb::handle& object) {
    return reinterpret_cast<std::uintptr_t>(object.ptr());
}

// The engine's FunctionIndex over Python objects: keys (code objects) are held
// strongly so their addresses stay unique; functions weakly, so the index never
// keeps a function alive.
class PyFunctionIndex {
public:
    bool add(nb::handle code, nb::handle function) {
        auto c = handle_of(code), f = handle_of(function);
        auto ref = weakrefs_.find(f);
        if (ref == weakrefs_.end() || !weakref_points_to(ref->second.ptr(), f)) {
            weakrefs_[f] = nb::steal(PyWeakref_NewRef(function.ptr(), nullptr));
            if (!weakrefs_[f].is_valid()) throw nb::python_error();
        }
        codes_.emplace(c, nb::borrow(code));
        return index_.add(c, f);
    }

    nb::list functions(nb::handle code) {
        nb::list result;
        auto alive = [this](std::uintptr_t f) {
            auto ref = weakrefs_.find(f);
            return ref != weakrefs_.end() && weakref_points_to(ref->second.ptr(), f);
        };
        for (auto f : index_.functions(handle_of(code), alive))
            result.append(nb::handle(reinterpret_cast<PyObject*>(f)));
        return result;
    }

    void move(nb::handle old_code, nb::handle new_code) {
        auto o = handle_of(old_code), n = handle_of(new_code);
        if (!index_.contains(o) || o == n) return;
        codes_.emplace(n, nb::borrow(new_code));
        index_.move(o, n);
        codes_.erase(o);
    }

    void forget(nb::handle code) {
        index_.forget(handle_of(code));
        codes_.erase(handle_of(code));
    }

    bool contains(nb::handle code) const { return index_.contains(handle_of(code)); }
    std::size_t size() const { return index_.size(); }

private:
    jurigged::patch::FunctionIndex index_;
    std::unordered_map<std::uintptr_t, nb::object> codes_;
    std::unordered_map<std::uintptr_t, nb::object> weakrefs_;
};

// One in-place function update, checked before anything is changed. A null field
// means "keep what the function has".
struct FunctionUpdate {
    PyFunctionObject* function;
    PyObject* code;
    PyObject* closure;
    PyObject* defaults;
    PyObject* kwdefaults;
    PyObject* annotations;
    PyObject* doc;
    bool set_closure, set_defaults, set_kwdefaults, set_annotations, set_doc;
};

PyObject* field_or_null(const nb::handle& value, bool& set) {
    set = !value.is(nb::ellipsis());
    return set ? (value.is_none() ? nullptr : value.ptr()) : nullptr;
}

FunctionUpdate check_update(nb::handle item) {
    nb::tuple t = nb::cast<nb::tuple>(item);
    if (t.size() != 7)
        throw nb::value_error("an update is (function, code, closure, defaults, "
                              "kwdefaults, annotations, doc)");
    if (!PyFunction_Check(t[0].ptr())) throw nb::type_error("not a function");
    if (!PyCode_Check(t[1].ptr())) throw nb::type_error("not a code object");
    FunctionUpdate u{};
    u.function = reinterpret_cast<PyFunctionObject*>(t[0].ptr());
    u.code = t[1].ptr();
    u.closure = field_or_null(t[2], u.set_closure);
    u.defaults = field_or_null(t[3], u.set_defaults);
    u.kwdefaults = field_or_null(t[4], u.set_kwdefaults);
    u.annotations = field_or_null(t[5], u.set_annotations);
    u.doc = t[6].ptr();
    u.set_doc = !t[6].is(nb::ellipsis());

    PyObject* closure = u.set_closure ? u.closure : u.function->func_closure;
    if (closure && !PyTuple_Check(closure)) throw nb::type_error("closure must be a tuple");
    Py_ssize_t cells = closure ? PyTuple_GET_SIZE(closure) : 0;
    auto* code = reinterpret_cast<PyCodeObject*>(u.code);
#if PY_VERSION_HEX >= 0x030B0000
    Py_ssize_t free_vars = code->co_nfreevars;
#else
    Py_ssize_t free_vars = PyTuple_GET_SIZE(code->co_freevars);
#endif
    if (cells != free_vars)
        throw nb::value_error("the closure does not match the code's free variables");
    if (u.defaults && !PyTuple_Check(u.defaults)) throw nb::type_error("defaults: tuple");
    if (u.kwdefaults && !PyDict_Check(u.kwdefaults)) throw nb::type_error("kwdefaults: dict");
    if (u.annotations && !PyDict_Check(u.annotations)) throw nb::type_error("annotations: dict");
    return u;
}

void swap_field(PyObject*& field, PyObject* value, std::vector<PyObject*>& released) {
    Py_XINCREF(value);
    released.push_back(field);  // capacity reserved: no allocation in the commit loop
    field = value;
}

// Apply every update or none. Nothing between the first and the last swap runs
// Python code or allocates a GC-tracked object, so no other thread (they all need the
// GIL) and no finalizer can observe a half-applied save. Old values are released
// only after the last swap, when finalizers can no longer see a mixed state.
void commit(nb::list items) {
    std::vector<FunctionUpdate> updates;
    updates.reserve(nb::len(items));
    for (nb::handle item : items) updates.push_back(check_update(item));

    std::vector<PyObject*> released;
    released.reserve(updates.size() * 6);
    for (auto& u : updates) {
        PyFunctionObject* f = u.function;
        invalidate_function_version(f);
        if (u.set_closure) swap_field(f->func_closure, u.closure, released);
        swap_field(f->func_code, u.code, released);
        if (u.set_defaults) swap_field(f->func_defaults, u.defaults, released);
        if (u.set_kwdefaults) swap_field(f->func_kwdefaults, u.kwdefaults, released);
        if (u.set_annotations) swap_field(f->func_annotations, u.annotations, released);
        if (u.set_doc) swap_field(f->func_doc, u.doc, released);
    }
    for (PyObject* old : released) Py_XDECREF(old);
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

}  // namespace

static void bind_patcher(nb::module_& m) {
    nb::class_<PyFunctionIndex>(m, "FunctionIndex",
                                "Which live functions run which code object.")
        .def(nb::init<>())
        .def("add", &PyFunctionIndex::add, "code"_a, "function"_a)
        .def("functions", &PyFunctionIndex::functions, "code"_a)
        .def("move", &PyFunctionIndex::move, "old_code"_a, "new_code"_a)
        .def("forget", &PyFunctionIndex::forget, "code"_a)
        .def("__contains__", &PyFunctionIndex::contains)
        .def("__len__", &PyFunctionIndex::size);
    m.def("commit", &commit, "updates"_a,
          "Apply in-place function updates all at once, or raise before changing any.");
    m.def("functions_using", &functions_using, "codes"_a,
          "Every live function whose __code__ is one of codes (one heap pass).");
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
