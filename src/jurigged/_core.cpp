// The binding module jurigged._core: the only C++ file that sees Python. It converts
// plain data between the engine (engine/) and Python, releases the GIL around blocking
// or CPU-heavy engine calls, and holds the CPython-specific code of the patcher.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

namespace nb = nanobind;

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
    nb::object exception = nb::handle(PyExc_SyntaxError)(error.message, details);
    PyErr_SetObject(PyExc_SyntaxError, exception.ptr());
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
        [](nb::bytes source, std::string filename) {
            std::string raw(source.c_str(), source.size());
            src::ParseResult result;
            {
                nb::gil_scoped_release unlocked;
                result = src::parse(raw);
            }
            if (result.error) raise_syntax_error(*result.error, raw, filename);
            fold_identifiers(*result.tree);
            return PyTree{std::move(*result.tree), nb::object()};
        },
        nb::arg("source"), nb::arg("filename") = "<unknown>",
        "Parse Python source bytes into a Tree; raises SyntaxError on invalid source.");

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

static void bind_watcher(nb::module_&) {}

// ---- patcher ------------------------------------------------------------------------

static void bind_patcher(nb::module_&) {}

NB_MODULE(_core, m) {
    m.doc() = "jurigged's C++ engine";
    bind_source(m);
    bind_watcher(m);
    bind_patcher(m);
}
