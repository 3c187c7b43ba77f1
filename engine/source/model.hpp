// The source model: Python source text into a definition tree, and two trees into
// a change plan. Pure C++ (no Python headers); the binding exposes it as plain data.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jurigged::source {

enum class Kind : std::uint8_t {
    Module,         // the root, exactly one per tree, at index 0
    Class,          // class C ...:
    Function,       // def f(...):
    AsyncFunction,  // async def f(...):
    Block,          // a compound statement (if/try/with/for/while/match) holding definitions
    Statement,      // any other statement, compound statements without definitions included
};

// Positions follow Python's ast: lines are 1-based, columns are 0-based UTF-8 byte
// offsets, end positions are exclusive (end_col like ast's end_col_offset).
struct Span {
    int line = 0;
    int col = 0;
    int end_line = 0;
    int end_col = 0;
};

struct Node {
    Kind kind = Kind::Statement;
    std::string name;      // definitions only: the def/class name
    std::string qualname;  // definitions only: __qualname__ as CPython computes it
    int parent = -1;       // index of the enclosing Module/Class/Function/Block node
    std::vector<int> children;  // nodes directly inside, in source order

    Span span;             // the whole statement, decorators included
    int def_line = 0;      // definitions: the line of the def/class keyword (ast lineno)
    int def_col = 0;       // definitions: column of the def/class/async keyword
    int body_line = 0;     // definitions and blocks: first line of the body

    // Hashes over tokens, so comments, blank lines and spacing do not count.
    std::uint64_t decorators_hash = 0;  // the decorator expressions
    std::uint64_t header_hash = 0;      // def: name, parameters, return annotation,
                                        //   type parameters; class: name, bases,
                                        //   keywords; block: its own clauses, excluding
                                        //   the definitions inside it
    std::uint64_t body_hash = 0;        // everything in the body (nested defs included);
                                        //   statements: the whole statement
    std::uint64_t layout_hash = 0;      // like body_hash + header_hash, but also covers each
                                        //   token's position relative to span.line, so equal
                                        //   layout_hash means "only moved by whole lines"
};

// What diff() pairs statements and blocks on: a block's own clauses, else the content.
inline std::uint64_t statement_key(const Node& node) {
    return node.kind == Kind::Block ? node.header_hash ^ 0x9e3779b97f4a7c15ULL : node.body_hash;
}

// TopLevelStart::key of a definition: of its name, or (as Python folds non-ASCII names
// to NFKC after the parse, so two spellings may be one name) the same for all of those.
constexpr std::uint64_t non_ascii_name_key = 0x6e6f6e2d61736369ULL;
inline std::uint64_t name_key(std::string_view name) {
    std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
    for (char c : name) {
        if (static_cast<unsigned char>(c) >= 0x80) return non_ascii_name_key;
        h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    }
    return h == non_ascii_name_key ? h + 1 : h;
}

// Polynomial sums over a run of tokens (see range_hash.hpp). They compose, which lets an
// incremental parse hash the whole module without re-reading its unchanged tokens.
struct TokenSums {
    std::uint64_t power = 1, content = 0, position = 0, placed = 0;
};

// Where a top-level statement starts: a place an incremental parse may start or stop.
struct TopLevelStart {
    std::uint32_t byte = 0;   // of its first token in Tree::text
    std::uint32_t token = 0;  // that token's index among the file's tokens
    int line = 0;
    int node = 0;
    bool clean = false;  // column 0 of a line not continued by a backslash: the tokenizer
                         // is there in its initial state (no bracket, string or indent)
    Kind kind = Kind::Statement;  // the statement's node's, and what diff() pairs
    std::uint64_t key = 0;        // what diff() pairs it on: statement_key(), or a
                                  // definition's name_key(); read here, not from nodes
    TokenSums before;    // of tokens [0, token)
};

// How an incremental parse's nodes relate to the tree it was parsed against: old nodes
// [1, prefix_end) are new nodes of the same index, old nodes from old_suffix_begin on are
// the new ones from new_suffix_begin on (same content, lines shifted), the rest is new.
struct Reuse {
    std::uint64_t against = 0;  // Tree::id of that tree; 0: none
    int prefix_end = 1;
    int old_suffix_begin = 0;
    int new_suffix_begin = 0;
    int suffix_lines = 0;  // how far the nodes after the re-read ones moved
};

// A run of one store's nodes: store positions [begin, end) are the tree's nodes
// [begin + shift, end + shift), with their lines moved by `lines`. Indices a node holds
// (parent, children) are store positions too and move the same way, except the module's
// (0). A run holds whole top-level subtrees, so what a node refers to is in its run.
struct NodeRun {
    std::shared_ptr<const std::vector<Node>> store;
    int begin = 0, end = 0;
    int shift = 0, lines = 0;
    int first() const { return begin + shift; }  // tree indices [first(), last())
    int last() const { return end + shift; }
};

// One node as its tree sees it: the stored node, whose position-free fields (kind,
// names, hashes) are read through ->, and its run's moves for the rest.
class NodeRef {
public:
    NodeRef(const Node& node, int shift, int lines) : node(&node), shift_(shift), lines_(lines) {}
    const Node* operator->() const { return node; }
    const Node& raw() const { return *node; }
    int parent() const { return node->parent > 0 ? node->parent + shift_ : node->parent; }
    std::size_t child_count() const { return node->children.size(); }
    int child(std::size_t k) const { return node->children[k] + shift_; }
    std::vector<int> children() const;
    int line() const { return node->span.line + lines_; }
    int end_line() const { return node->span.end_line + lines_; }
    Span span() const { return {line(), node->span.col, end_line(), node->span.end_col}; }
    Node materialize() const;  // a copy with the tree's positions

private:
    const Node* node;
    int shift_, lines_;
};

// The nodes of a tree: the module, then runs of stored nodes. A tree parsed against
// another shares the runs of the nodes it did not re-read with it (moved, not copied),
// so it costs what the edit changed. Stores are immutable once a tree is built.
class NodeTable {
public:
    NodeTable() = default;
    explicit NodeTable(std::vector<Node>&& nodes);  // nodes[0] is the module

    std::size_t size() const { return count; }
    bool empty() const { return count == 0; }
    NodeRef operator[](std::size_t index) const;
    const Node& module() const { return module_; }
    Node& module() { return module_; }
    const std::vector<NodeRun>& runs() const { return runs_; }
    // visit(index, node) for every node in order, without a look-up per node
    template <class Visit>
    void for_each(Visit visit) const {
        if (count == 0) return;
        visit(std::size_t{0}, NodeRef(module_, 0, 0));
        for (const NodeRun& run : runs_)
            for (int k = run.begin; k < run.end; ++k)
                visit(static_cast<std::size_t>(k + run.shift),
                      NodeRef((*run.store)[static_cast<std::size_t>(k)], run.shift, run.lines));
    }

    // Building a spliced table: runs in tree order, then seal() (which bounds their count).
    void append(NodeRun run);
    void seal();
    // A node of a store only this table holds (a fresh parse's), to finish it in place.
    Node* fresh(std::size_t index);
    // Nodes in stores no other tree shares (what freeing this table frees).
    std::size_t owned() const;

private:
    Node module_;
    std::vector<NodeRun> runs_;
    std::size_t count = 0;
    const NodeRun& run_of(std::size_t index) const;
};

struct Tree {
    NodeTable nodes;  // nodes[0] is the Module
    int line_count = 0;

    // What parse(..., against=this tree) reuses.
    std::uint64_t id = 0;  // unique per parse
    int python_minor = 0;
    std::string text;      // the decoded text
    std::vector<TopLevelStart> top_level;  // one per module child, in order
    TokenSums all_tokens;                  // of every token but End
    std::uint32_t token_count = 0;         // tokens but End
    std::vector<int> nested_functions;     // functions inside functions, ascending
    std::vector<std::uint32_t> line_starts;  // of text: 0, then one past each '\n'
    bool text_is_source = false;  // text is the bytes parsed, strict UTF-8 (what
                                  // Python's decoding of them gives, encoded again)
    Reuse reuse;
};

// Which of Python's SyntaxError classes CPython raises for an error.
enum class ErrorClass : std::uint8_t { Syntax, Indentation, Tab };

struct SyntaxError {
    int line = 0;
    int col = 0;  // 0-based
    std::string message;
    ErrorClass error_class = ErrorClass::Syntax;
};

struct ParseResult {
    std::optional<Tree> tree;
    std::optional<SyntaxError> error;  // set exactly when tree is not
};

// The newest CPython whose grammar the model follows; where supported versions differ,
// parse() takes the minor version (3.x) whose rules to apply.
constexpr int newest_python_minor = 13;

// Parse Python source (bytes as read from disk: BOM, PEP 263 cookie, CRLF/CR handled).
// With `utf8`, the bytes are UTF-8 text decoded elsewhere: any cookie is ignored.
ParseResult parse(std::string_view source, bool utf8 = false, int python_minor = newest_python_minor);

// The same result as parse(source, ...), always; reads again only the top-level statements
// that differ from `against` (a tree parsed earlier) and reuses the others' nodes.
ParseResult parse(std::string_view source, bool utf8, int python_minor, const Tree& against);

// What happened to one definition or statement between two trees.
enum Change : std::uint32_t {
    Unchanged = 0,
    Moved = 1 << 0,               // starts on another line; nothing else differs
    Reformatted = 1 << 1,         // same tokens, different layout (comments, blank lines)
    BodyChanged = 1 << 2,
    SignatureChanged = 1 << 3,    // def header: parameters, defaults, annotations
    DecoratorsChanged = 1 << 4,
    ClassHeaderChanged = 1 << 5,  // class bases, keywords, type parameters
    Added = 1 << 6,
    Deleted = 1 << 7,
};

struct PlanEntry {
    std::uint32_t change = Unchanged;  // a combination of Change bits
    int old_index = -1;                // node index in the old tree, -1 when added
    int new_index = -1;                // node index in the new tree, -1 when deleted
};

// Every node of both trees appears in exactly one entry, except the children of a
// node whose entry is Added or Deleted (they come with it). Entries are in new-file
// order; deletions follow, in old-file order. Definitions are matched by scope, kind
// and name (same-named ones by similarity); statements by content, and an unmatched
// old statement is paired with an unmatched new one at the same place as a change.
// Blocks pair like statements, on their own clauses (header_hash); BodyChanged on a
// Block means those clauses changed, while the definitions inside get their own entries.
// Moved/Reformatted are only set when no other bit is (a changed node is re-read whole).
struct Plan {
    std::vector<PlanEntry> entries;
};

Plan diff(const Tree& old_tree, const Tree& new_tree);

}  // namespace jurigged::source
