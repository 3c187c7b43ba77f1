// parse(): decoded text -> tokens -> the definition tree. A statement-level parser:
// it follows Python's block structure exactly (where every statement starts and ends,
// which compound statement owns which suite) and leaves expressions to the token checks.
#include <atomic>
#include <string>
#include <unordered_map>

#include "source/decode.hpp"
#include "source/incremental.hpp"
#include "source/lines.hpp"
#include "source/model.hpp"
#include "source/range_hash.hpp"
#include "source/token_checks.hpp"
#include "source/tokenizer.hpp"

namespace jurigged::source {

namespace {

bool is_definition(Kind kind) {
    return kind == Kind::Class || kind == Kind::Function || kind == Kind::AsyncFunction;
}

// Token ranges of a node, for its hashes: [begin, end) is the whole statement,
// decorators are [begin, header_begin), the header [header_begin, body_begin).
struct Extent {
    std::size_t begin = 0, header_begin = 0, body_begin = 0, end = 0;
    std::size_t subtree_end = 0;  // one past the node's last descendant
};

class TreeBuilder {
public:
    TreeBuilder(std::string_view text, const std::vector<Token>& tokens)
        : text(text), toks(tokens) {}

    ParseResult build(int line_count) {
        nodes.reserve(toks.size() / 8 + 1);  // about one statement per 8 tokens
        extents.reserve(toks.size() / 8 + 1);
        nodes.emplace_back();
        nodes[0].kind = Kind::Module;
        extents.emplace_back();
        scopes.push_back(0);
        statements();
        if (!error && toks[i].kind != TokenKind::End) fail(toks[i], "invalid syntax");
        if (error) return {std::nullopt, error};

        Node& module = nodes[0];
        module.span = {1, 0, toks[last_real].end_line, toks[last_real].end_col};
        if (toks.size() == 1 || toks[0].kind == TokenKind::End) module.span = {1, 0, 1, 0};
        module.body_line = module.children.empty() ? 1 : nodes[module.children[0]].span.line;
        extents[0].end = toks.size() - 1;
        extents[0].subtree_end = nodes.size();
        tree.line_count = line_count;
        qualnames();
        hashes();
        nested_functions();
        tree.nodes = NodeTable(std::move(nodes));
        return {std::move(tree), std::nullopt};
    }

private:
    std::string_view text;
    const std::vector<Token>& toks;
    std::size_t i = 0;
    std::size_t last_real = 0;  // the last token of the latest statement
    Tree tree;
    std::vector<Node> nodes;  // the tree's, until build() hands them over
    std::vector<Extent> extents;
    std::vector<int> scopes;  // enclosing Module/Class/Function nodes

    // A statement whose clauses are still being read, innermost last; each one on the
    // stack but the innermost waits for the end of its indented suite.
    struct Open {
        enum Kind : std::uint8_t { Compound, Match, Definition } kind;
        int node;
        std::string_view compound_kind = {};  // Compound: if, while, for, try, with
        bool started = false;                 // a clause (a case) has been read
        bool seen_except = false, seen_else = false, seen_finally = false;
    };
    std::vector<Open> open;
    std::unordered_map<int, std::vector<std::string_view>> globals;  // per scope node
    std::optional<SyntaxError> error;

    const Token& tok(std::size_t k) const { return toks[k < toks.size() ? k : toks.size() - 1]; }
    std::string_view word(std::size_t k) const { return tok(k).text(text); }
    bool is_name(std::size_t k, std::string_view name) const {
        return tok(k).kind == TokenKind::Name && word(k) == name;
    }
    bool is_op(std::size_t k, std::string_view op) const {
        return tok(k).kind == TokenKind::Op && word(k) == op;
    }

    bool fail(const Token& t, std::string message, ErrorClass error_class = ErrorClass::Syntax) {
        if (!error) error = SyntaxError{t.line, t.col, std::move(message), error_class};
        return false;
    }
    bool fail(std::optional<SyntaxError> found) {
        if (found && !error) error = std::move(found);
        return !found;
    }

    int add_node(Kind kind, int parent, std::size_t begin) {
        int index = static_cast<int>(nodes.size());
        Node& node = nodes.emplace_back();
        node.kind = kind;
        node.parent = parent;
        nodes[parent].children.push_back(index);
        Extent& extent = extents.emplace_back();
        extent.begin = extent.header_begin = extent.body_begin = begin;
        return index;
    }

    void finish_node(int index) {
        Node& node = nodes[index];
        Extent& extent = extents[index];
        extent.end = i;
        extent.subtree_end = nodes.size();
        const Token& first = tok(extent.begin);
        const Token& last = tok(last_real);
        node.span = {first.line, first.col, last.end_line, last.end_col};
    }

    // Every statement of the module. What is open (a compound statement, a definition)
    // lives on `open`, not on the C++ stack, so that no input can exhaust the stack: the
    // parser also runs on Python threads, whose stacks may be small.
    void statements() {
        while (!error) {
            const Token& t = tok(i);
            if (t.kind == TokenKind::End || t.kind == TokenKind::Dedent) {
                if (open.empty()) return;
                if (t.kind == TokenKind::Dedent) ++i;  // the innermost indented suite ends
                advance();
                continue;
            }
            if (t.kind == TokenKind::Indent) {
                fail(t, "unexpected indent", ErrorClass::Indentation);
                return;
            }
            statement(open.empty() ? 0 : open.back().node);
        }
    }

    bool starts_compound(std::size_t k) const {
        static constexpr std::string_view compound[] = {"if", "while", "for", "try", "with",
                                                        "def", "class", "async"};
        if (is_op(k, "@")) return true;
        for (std::string_view kw : compound)
            if (is_name(k, kw)) return true;
        return false;
    }

    void statement(int parent) {
        if (is_op(i, "@") || is_name(i, "def") || is_name(i, "class") ||
            (is_name(i, "async") && is_name(i + 1, "def"))) {
            definition(parent);
        } else if (is_name(i, "async")) {
            if (is_name(i + 1, "for") || is_name(i + 1, "with"))
                compound(parent);
            else
                fail(tok(i + 1), "invalid syntax");
        } else if (is_name(i, "if") || is_name(i, "while") || is_name(i, "for") ||
                   is_name(i, "try") || is_name(i, "with")) {
            compound(parent);
        } else if (is_name(i, "match") && looks_like_match()) {
            match(parent);
        } else if (is_name(i, "elif") || is_name(i, "else") || is_name(i, "except") ||
                   is_name(i, "finally")) {
            fail(tok(i), "invalid syntax");
        } else {
            simple_line(parent);
        }
    }

    // The colon ending a clause header that starts at `from`; 0 (and an error) if none.
    std::size_t header_colon(std::size_t from) {
        int depth = 0, open_lambdas = 0;
        std::size_t k = from;
        for (; tok(k).kind != TokenKind::Newline && tok(k).kind != TokenKind::End; ++k) {
            const Token& t = tok(k);
            if (t.kind == TokenKind::Name && depth == 0 && word(k) == "lambda") ++open_lambdas;
            if (t.kind != TokenKind::Op) continue;
            std::string_view op = word(k);
            if (op == "(" || op == "[" || op == "{") ++depth;
            else if (op == ")" || op == "]" || op == "}") --depth;
            else if (op == ":" && depth == 0) {
                if (open_lambdas == 0) return k;
                --open_lambdas;
            }
        }
        fail(tok(k), "expected ':'");
        return 0;
    }

    // `match` is a soft keyword: a match statement is a line "match <subject>:" whose
    // first token after `match` could start an expression.
    bool looks_like_match() const {
        const Token& next = tok(i + 1);
        if (next.kind == TokenKind::Newline || next.kind == TokenKind::End) return false;
        if (next.kind == TokenKind::Op) {
            std::string_view op = word(i + 1);
            if (op != "(" && op != "[" && op != "{" && op != "-" && op != "+" && op != "~" &&
                op != "*" && op != "...")
                return false;
        }
        int depth = 0;
        std::size_t k = i + 1;
        std::size_t last = k;
        for (; tok(k).kind != TokenKind::Newline && tok(k).kind != TokenKind::End; ++k) {
            if (tok(k).kind == TokenKind::Op) {
                std::string_view op = word(k);
                if (op == "(" || op == "[" || op == "{") ++depth;
                else if (op == ")" || op == "]" || op == "}") --depth;
                else if (op == ";" && depth == 0) return false;
            }
            last = k;
        }
        return is_op(last, ":");
    }

    enum class SuiteStart { Failed, Inline, Indented };

    // The body after a header's colon: simple statements on the header's line (read
    // now), or an indented block, whose statements the loop in statements() reads.
    SuiteStart begin_suite(int node, std::size_t colon, std::string_view what, int header_line) {
        i = colon + 1;
        if (tok(i).kind == TokenKind::Newline) {
            ++i;
            if (tok(i).kind != TokenKind::Indent) {
                fail(tok(i), "expected an indented block after " + std::string(what) + " on line " +
                                 std::to_string(header_line), ErrorClass::Indentation);
                return SuiteStart::Failed;
            }
            ++i;
            if (nodes[node].body_line == 0) nodes[node].body_line = tok(i).line;
            return SuiteStart::Indented;
        }
        if (nodes[node].body_line == 0) nodes[node].body_line = tok(i).line;
        if (starts_compound(i)) {
            fail(tok(i), "invalid syntax");
            return SuiteStart::Failed;
        }
        simple_line(node);
        return error ? SuiteStart::Failed : SuiteStart::Inline;
    }

    // Reads on in the innermost open statement, after its latest suite (or at its start):
    // further clauses, until one has an indented suite (left open) or the statement ends.
    void advance() {
        switch (open.back().kind) {
            case Open::Compound: return advance_compound();
            case Open::Match: return advance_match();
            case Open::Definition: return advance_definition();
        }
    }

    // One logical line of simple statements separated by semicolons.
    void simple_line(int parent) {
        while (!error) {
            std::size_t begin = i;
            int depth = 0;
            while (true) {
                const Token& t = tok(i);
                if (t.kind == TokenKind::Newline || t.kind == TokenKind::End) break;
                if (t.kind == TokenKind::Op) {
                    std::string_view op = word(i);
                    if (op == "(" || op == "[" || op == "{") ++depth;
                    else if (op == ")" || op == "]" || op == "}") --depth;
                    else if (op == ";" && depth == 0) break;
                }
                ++i;
            }
            if (i == begin) {
                fail(tok(i), "invalid syntax");
                return;
            }
            if (!check_simple_statement(begin, i)) return;
            last_real = i - 1;
            int node = add_node(Kind::Statement, parent, begin);
            finish_node(node);
            if (is_name(begin, "global"))
                for (std::size_t k = begin + 1; k < i; k += 2) globals[scopes.back()].push_back(word(k));
            if (is_op(i, ";")) {
                ++i;
                if (tok(i).kind != TokenKind::Newline) continue;
                last_real = i - 1;  // ast ends an enclosing block after a trailing ';'
            }
            if (tok(i).kind == TokenKind::Newline) ++i;
            return;
        }
    }

    bool check_simple_statement(std::size_t begin, std::size_t end) {
        const Token* first = &toks[begin];
        const Token* last = &toks[end];
        // `type X = ...` (3.12): the soft keyword may be followed by a name
        if (is_name(begin, "type") && tok(begin + 1).kind == TokenKind::Name &&
            (is_op(begin + 2, "=") || is_op(begin + 2, "[")))
            ++first;
        return fail(check_tokens(text, first, last, false));
    }

    bool check_header(std::size_t keyword, std::size_t colon, bool must_be_empty, bool may_be_empty) {
        if (must_be_empty && colon != keyword + 1) return fail(tok(keyword + 1), "expected ':'");
        if (!may_be_empty && colon == keyword + 1) return fail(tok(colon), "invalid syntax");
        return fail(check_tokens(text, &toks[keyword + 1], &toks[colon], true));
    }

    // A compound statement that is not a definition: a Block if definitions are inside
    // it, else a single Statement.
    void compound(int parent) {
        int node = add_node(Kind::Block, parent, i);
        if (is_name(i, "async")) ++i;
        open.push_back({Open::Compound, node, word(i)});
        advance_compound();
    }

    void advance_compound() {
        while (!error) {
            Open& statement = open.back();
            if (statement.started) {
                bool more;
                std::string_view kind = statement.compound_kind;
                if (kind == "if")
                    more = !statement.seen_else && (is_name(i, "elif") || is_name(i, "else"));
                else if (kind == "while" || kind == "for")
                    more = !statement.seen_else && is_name(i, "else");
                else if (kind == "try")
                    more = !statement.seen_finally &&
                           ((is_name(i, "except") && !statement.seen_else) ||
                            (is_name(i, "else") && statement.seen_except && !statement.seen_else) ||
                            is_name(i, "finally"));
                else
                    more = false;
                if (!more) {
                    if (kind == "try" && !statement.seen_except && !statement.seen_finally) {
                        fail(tok(i), "expected 'except' or 'finally' block");
                        return;
                    }
                    int node = statement.node;
                    open.pop_back();
                    finish_block(node);
                    return;
                }
            }
            statement.started = true;
            std::size_t keyword = i;
            std::string_view clause = word(keyword);
            std::size_t colon = header_colon(keyword);
            if (error) return;
            if (clause == "except" && !check_except(keyword, colon)) return;
            bool bare = clause == "else" || clause == "finally" || clause == "try";
            if (clause != "except" && !check_header(keyword, colon, bare, bare)) return;
            statement.seen_except |= clause == "except";
            statement.seen_else |= clause == "else";
            statement.seen_finally |= clause == "finally";
            std::string what = "'";
            what.append(clause).append("' statement");
            if (begin_suite(statement.node, colon, what, tok(keyword).line) != SuiteStart::Inline) return;
        }
    }

    bool check_except(std::size_t keyword, std::size_t colon) {
        std::size_t first = keyword + 1;
        if (is_op(first, "*")) ++first;
        int depth = 0;
        bool has_as = false, has_comma = false;
        for (std::size_t k = first; k < colon; ++k) {
            if (is_op(k, "(") || is_op(k, "[") || is_op(k, "{")) ++depth;
            else if (is_op(k, ")") || is_op(k, "]") || is_op(k, "}")) --depth;
            else if (depth == 0 && is_op(k, ",")) has_comma = true;
            else if (depth == 0 && is_name(k, "as")) has_as = true;
        }
        // PEP 758 (3.14): `except A, B:` is a tuple of types, but not before `as`
        if (has_comma && has_as)
            return fail(tok(first), "multiple exception types must be parenthesized when using 'as'");
        return fail(check_tokens(text, &toks[first], &toks[colon], true));
    }

    void match(int parent) {
        int node = add_node(Kind::Block, parent, i);
        std::size_t colon = header_colon(i);
        if (error || !check_header(i, colon, false, false)) return;
        int header_line = tok(i).line;
        i = colon + 1;
        if (tok(i).kind != TokenKind::Newline) {
            fail(tok(i), "invalid syntax");
            return;
        }
        ++i;
        if (tok(i).kind != TokenKind::Indent) {
            fail(tok(i), "expected an indented block after 'match' statement on line " +
                             std::to_string(header_line), ErrorClass::Indentation);
            return;
        }
        ++i;
        open.push_back({Open::Match, node});
        advance_match();
    }

    // The next `case` clause of the match statement, or the end of its block.
    void advance_match() {
        while (!error) {
            Open& statement = open.back();
            if (tok(i).kind == TokenKind::Dedent || tok(i).kind == TokenKind::End) {
                if (!statement.started) {
                    fail(tok(i), "invalid syntax");
                    return;
                }
                if (tok(i).kind == TokenKind::Dedent) ++i;
                int node = statement.node;
                open.pop_back();
                finish_block(node);
                return;
            }
            if (!is_name(i, "case")) {
                fail(tok(i), "invalid syntax");
                return;
            }
            std::size_t case_colon = header_colon(i);
            if (error || !check_header(i, case_colon, false, false)) return;
            statement.started = true;
            if (begin_suite(statement.node, case_colon, "'case' statement", tok(i).line) != SuiteStart::Inline)
                return;
        }
    }

    // A compound statement without definitions inside is one plain statement.
    void finish_block(int node) {
        finish_node(node);
        bool holds_definitions = false;
        for (std::size_t k = node + 1; k < nodes.size(); ++k)
            holds_definitions |= is_definition(nodes[k].kind);
        if (holds_definitions) return;
        nodes.resize(node + 1);
        extents.resize(node + 1);
        Node& statement = nodes[node];
        statement.kind = Kind::Statement;
        statement.children.clear();
        statement.body_line = 0;
        extents[node].subtree_end = node + 1;
    }

    void definition(int parent) {
        std::size_t begin = i;
        while (is_op(i, "@")) {
            std::size_t expression = i + 1;
            while (tok(i).kind != TokenKind::Newline && tok(i).kind != TokenKind::End) ++i;
            if (i == expression) return void(fail(tok(i), "invalid syntax"));
            if (!fail(check_tokens(text, &toks[expression], &toks[i], false))) return;
            ++i;
        }
        std::size_t header_begin = i;
        bool is_async = is_name(i, "async");
        if (is_async) ++i;
        Kind kind;
        if (is_name(i, "def"))
            kind = is_async ? Kind::AsyncFunction : Kind::Function;
        else if (is_name(i, "class") && !is_async)
            kind = Kind::Class;
        else
            return void(fail(tok(i), "invalid syntax"));
        std::size_t keyword = i++;
        if (tok(i).kind != TokenKind::Name || is_keyword(word(i))) return void(fail(tok(i), "invalid syntax"));
        std::size_t name = i++;

        int node = add_node(kind, parent, begin);
        Node& def = nodes[node];
        def.name = std::string(word(name));
        def.def_line = tok(header_begin).line;
        def.def_col = tok(header_begin).col;
        extents[node].header_begin = header_begin;

        std::size_t colon = header_colon(i);
        if (error) return;
        if (!check_definition_header(kind, name + 1, colon)) return;
        extents[node].body_begin = colon + 1;
        scopes.push_back(node);
        open.push_back({Open::Definition, node});
        SuiteStart body = begin_suite(node, colon, kind == Kind::Class ? "class definition" : "function definition",
                                      tok(keyword).line);
        if (body == SuiteStart::Inline) advance_definition();
    }

    // The definition's body has ended.
    void advance_definition() {
        int node = open.back().node;
        open.pop_back();
        scopes.pop_back();
        finish_node(node);
    }

    // The index just past the bracket group opening at `open`.
    std::size_t skip_group(std::size_t open, std::size_t limit) const {
        int depth = 0;
        for (std::size_t k = open; k < limit; ++k) {
            if (is_op(k, "(") || is_op(k, "[") || is_op(k, "{")) ++depth;
            else if ((is_op(k, ")") || is_op(k, "]") || is_op(k, "}")) && --depth == 0) return k + 1;
        }
        return limit;
    }

    // After the name: [type params] (parameters) [-> annotation] for functions,
    // [type params] [(bases)] for classes.
    bool check_definition_header(Kind kind, std::size_t k, std::size_t colon) {
        if (is_op(k, "[")) k = skip_group(k, colon);
        if (kind == Kind::Class) {
            if (is_op(k, "(")) {
                std::size_t close = skip_group(k, colon);
                if (!fail(check_tokens(text, &toks[k], &toks[close], true))) return false;
                k = close;
            }
            return k == colon || fail(tok(k), "invalid syntax");
        }
        if (!is_op(k, "(")) return fail(tok(k), "expected '('");
        std::size_t close = skip_group(k, colon);
        if (!fail(check_parameters(text, &toks[k + 1], &toks[close - 1]))) return false;
        if (!fail(check_tokens(text, &toks[k], &toks[close], true))) return false;
        k = close;
        if (is_op(k, "->")) {
            if (k + 1 == colon) return fail(tok(colon), "invalid syntax");
            return fail(check_tokens(text, &toks[k + 1], &toks[colon], true));
        }
        return k == colon || fail(tok(k), "expected ':'");
    }

    // __qualname__ as CPython's compiler builds it: enclosing classes and functions,
    // "<locals>" after a function, reset by a `global` declaration in the parent scope.
    void qualnames() {
        for (std::size_t n = 1; n < nodes.size(); ++n) {
            Node& node = nodes[n];
            if (!is_definition(node.kind)) continue;
            int scope = node.parent;
            while (nodes[scope].kind == Kind::Block) scope = nodes[scope].parent;
            const Node& owner = nodes[scope];
            bool declared_global = false;
            if (auto found = globals.find(scope); found != globals.end())
                for (std::string_view g : found->second) declared_global |= g == node.name;
            if (scope == 0 || declared_global)
                node.qualname = node.name;
            else if (owner.kind == Kind::Class)
                node.qualname = owner.qualname + "." + node.name;
            else
                node.qualname = owner.qualname + ".<locals>." + node.name;
        }
    }

    void nested_functions() {
        std::vector<std::uint8_t> in_function(nodes.size(), 0);
        for (std::size_t n = 1; n < nodes.size(); ++n) {
            int parent = nodes[n].parent;
            bool function_parent = nodes[parent].kind == Kind::Function || nodes[parent].kind == Kind::AsyncFunction;
            in_function[n] = parent > 0 && (in_function[parent] || function_parent);
            bool function = nodes[n].kind == Kind::Function || nodes[n].kind == Kind::AsyncFunction;
            if (function && in_function[n]) tree.nested_functions.push_back(static_cast<int>(n));
        }
    }

    // Where each top-level statement starts, for a later parse against this tree.
    void top_level_starts(const RangeHasher& hasher) {
        const std::vector<int>& children = nodes[0].children;
        tree.top_level.reserve(children.size());
        for (int child : children) {
            std::size_t first = extents[child].begin;
            const Token& t = toks[first];
            tree.top_level.push_back({t.begin, static_cast<std::uint32_t>(first), t.line, child,
                                      t.col == 0 && tokenizer_starts_clean(text, t.begin), Kind::Statement, 0,
                                      hasher.prefix(first)});
        }
        tree.token_count = static_cast<std::uint32_t>(toks.size() - 1);
        tree.all_tokens = hasher.prefix(toks.size() - 1);
    }

    // A block's own tokens: its whole extent minus the definitions inside it.
    std::uint64_t hash_without_definitions(const RangeHasher& hasher, std::size_t n) const {
        RangeHasher::Concatenation own(hasher);
        std::size_t from = extents[n].begin;
        for (std::size_t d = n + 1; d < extents[n].subtree_end; ++d) {
            if (!is_definition(nodes[d].kind) || extents[d].begin < from) continue;
            own.add(from, extents[d].begin);
            from = extents[d].end;
        }
        own.add(from, extents[n].end);
        return own.value();
    }

    void hashes() {
        RangeHasher hasher(text, toks);
        top_level_starts(hasher);
        for (std::size_t n = 0; n < nodes.size(); ++n) {
            Node& node = nodes[n];
            const Extent& e = extents[n];
            node.layout_hash = hasher.layout(e.begin, e.end, node.span.line);
            node.body_hash = hasher.content(e.body_begin, e.end);
            if (is_definition(node.kind)) {
                node.decorators_hash = hasher.content(e.begin, e.header_begin);
                node.header_hash = hasher.content(e.header_begin, e.body_begin);
            } else if (node.kind == Kind::Block) {
                node.header_hash = hash_without_definitions(hasher, n);
            }
        }
        for (TopLevelStart& start : tree.top_level) {
            const Node& node = nodes[static_cast<std::size_t>(start.node)];
            start.kind = node.kind;
            start.key = is_definition(node.kind) ? name_key(node.name) : statement_key(node);
        }
    }
};

}  // namespace

bool tokenizer_starts_clean(std::string_view text, std::size_t byte) {
    if (byte == 0) return true;
    if (byte > text.size() || text[byte - 1] != '\n') return false;
    return byte < 2 || text[byte - 2] != '\\';
}

bool decode(std::string_view source, bool utf8, std::string& text, SyntaxError& error, bool& as_is) {
    as_is = false;  // utf8: the bytes are not the file's
    if (!utf8) return decode_source(source, text, error, &as_is);
    normalize_utf8(source, text);
    return true;
}

ParseResult parse(std::string_view source, bool utf8, int python_minor) {
    std::string text;
    SyntaxError decode_error;
    bool as_is = false;
    if (!decode(source, utf8, text, decode_error, as_is)) return {std::nullopt, decode_error};
    ParseResult result = parse_decoded(std::move(text), python_minor);
    if (result.tree) result.tree->text_is_source = as_is && is_strict_utf8(result.tree->text);
    return result;
}

std::uint64_t next_tree_id() {
    static std::atomic<std::uint64_t> last{0};
    return ++last;
}

ParseResult parse_decoded(std::string text, int python_minor) {
    TokenizeResult tokens = tokenize(text, python_minor);
    if (!tokens.error) {
        ParseResult result = TreeBuilder(text, tokens.tokens).build(tokens.line_count);
        if (result.tree) {
            result.tree->id = next_tree_id();
            result.tree->python_minor = python_minor;
            result.tree->text = std::move(text);
            result.tree->line_starts.reserve(result.tree->text.size() / 32 + 1);  // lines are rarely shorter
            result.tree->line_starts.push_back(0);
            append_line_starts(result.tree->text, 0, result.tree->line_starts);
        }
        return result;
    }

    // CPython tokenizes as it parses, so a statement error on a line before the one the
    // tokenizer failed on is the one it reports; except that before reporting a plain
    // "invalid syntax" it tokenizes the rest of the file and prefers most errors found
    // there (an unclosed bracket only if it was opened before the statement error).
    std::size_t last_newline = 0;
    for (std::size_t k = 0; k + 1 < tokens.tokens.size(); ++k)
        if (tokens.tokens[k].kind == TokenKind::Newline) last_newline = k + 1;
    const Token& unfinished = tokens.tokens[last_newline];
    ParseResult partial = TreeBuilder(text, tokens.tokens).build(tokens.line_count);
    const std::optional<SyntaxError>& statement_error = partial.error;
    bool statement_first = statement_error && (statement_error->line < unfinished.line ||
                                               (statement_error->line == unfinished.line &&
                                                statement_error->col < unfinished.col));
    if (!statement_first) return {std::nullopt, tokens.error};
    if (statement_error->message != "invalid syntax" || !tokens.error_overrides_invalid_syntax)
        return {std::nullopt, statement_error};
    bool unclosed = tokens.error->message.ends_with("was never closed");
    if (unclosed && tokens.error->line >= statement_error->line) return {std::nullopt, statement_error};
    return {std::nullopt, tokens.error};
}

}  // namespace jurigged::source
