// Token-level syntax checks: cheap rules that hold for every valid Python statement.
#include "source/token_checks.hpp"

namespace jurigged::source {

namespace {

bool is_op(std::string_view text, const Token& t, std::string_view op) {
    return t.kind == TokenKind::Op && t.text(text) == op;
}

bool is_constant_keyword(std::string_view word) {
    return word == "True" || word == "False" || word == "None";
}

// Whether the token can end an operand (a name, literal or closed bracket).
bool ends_operand(std::string_view text, const Token& t) {
    switch (t.kind) {
        case TokenKind::Number:
        case TokenKind::String:
            return true;
        case TokenKind::Name: {
            std::string_view word = t.text(text);
            return !is_keyword(word) || is_constant_keyword(word);
        }
        case TokenKind::Op: {
            std::string_view op = t.text(text);
            return op == ")" || op == "]" || op == "}" || op == "...";
        }
        default:
            return false;
    }
}

// Whether the token can only start an operand (so it cannot follow one).
bool starts_operand(std::string_view text, const Token& t) {
    switch (t.kind) {
        case TokenKind::Number:
        case TokenKind::String:
            return true;
        case TokenKind::Name: {
            std::string_view word = t.text(text);
            return !is_keyword(word) || is_constant_keyword(word) || word == "lambda" ||
                   word == "await";
        }
        case TokenKind::Op: {
            std::string_view op = t.text(text);
            return op == "{" || op == "...";
        }
        default:
            return false;
    }
}

// Keywords that may end a statement or header, everything else needs something after it.
bool may_end(std::string_view text, const Token& t, bool is_header) {
    if (t.kind == TokenKind::Name) {
        std::string_view word = t.text(text);
        if (!is_keyword(word) || is_constant_keyword(word)) return true;
        if (is_header) return false;
        return word == "return" || word == "pass" || word == "break" || word == "continue" ||
               word == "yield" || word == "raise";
    }
    if (t.kind == TokenKind::Op) {
        std::string_view op = t.text(text);
        return op == ")" || op == "]" || op == "}" || op == "," || op == "..." ||
               (op == "*" && !is_header);
    }
    return true;
}

SyntaxError at(const Token& t, std::string message) { return {t.line, t.col, std::move(message)}; }

// Operators that need an operand on their left.
bool is_binary_only(std::string_view op) {
    switch (op[0]) {
        case '/': case '%': case '&': case '|': case '^': case '<': case '>': case '=':
        case ',': case '@': case '!':
            return true;
        case '.':
            return op.size() == 1;  // not "..."
        case ':': case '-': case '+':
            return op.size() > 1;  // ":=" "->" "-=" "+="
        case '*':
            return op.back() == '=';  // "*=" "**="
        default:
            return false;
    }
}

// Whether operator `next` can follow operator `previous`: not when `previous` leaves an
// operand missing (an opening bracket, a comma, any operator) and `next` needs one.
bool operators_fit(std::string_view previous, std::string_view next) {
    if (!is_binary_only(next)) return true;
    bool leaves_operand_missing = previous == "(" || previous == "[" || previous == "{" ||
                                  previous == "+" || previous == "-" || previous == "*" ||
                                  previous == "**" || previous == "~" || is_binary_only(previous);
    if (!leaves_operand_missing) return true;
    if (previous == "," && (next == "=" || next == "/")) return true;  // "a, = b", "def f(a, /)"
    if ((previous == "*" || previous == "/") && next == ",") return true;  // "def f(a, /, *, b)"
    return false;
}

// Keywords that can only start a statement.
bool starts_statements_only(std::string_view word) {
    static constexpr std::string_view only_first[] = {
        "class", "def",    "return", "pass",  "break",  "continue", "global", "nonlocal", "del",
        "try",   "while",  "with",   "assert", "raise", "elif",     "except", "finally",  "import"};
    for (std::string_view keyword : only_first)
        if (word == keyword) return true;
    return false;
}

// Keywords out of place inside an expression: statement keywords after the start, `for`
// outside brackets (comprehensions are bracketed), `async` not before such a `for`, and
// `else` without an `if` before it at the same depth.
std::optional<SyntaxError> check_keywords(std::string_view text, const Token* from,
                                          const Token* first, const Token* last) {
    constexpr int max_depth = 256;
    int ifs[max_depth];  // per bracket depth; zeroed on entering a depth
    ifs[0] = 0;
    int depth = 0;
    for (const Token* t = first; t < last; ++t) {
        if (t->kind == TokenKind::Op) {
            char op = text[t->begin];  // brackets are one character long
            if ((op == '(' || op == '[' || op == '{') && depth + 1 < max_depth) ifs[++depth] = 0;
            else if ((op == ')' || op == ']' || op == '}') && depth > 0) --depth;
            continue;
        }
        if (t->kind != TokenKind::Name || t < from) continue;
        std::string_view word = t->text(text);
        if (!is_keyword(word)) continue;
        if (word == "import" && first->text(text) == "from") continue;
        if (starts_statements_only(word) || (word == "for" && depth == 0)) return at(*t, "invalid syntax");
        if (word == "async" && (t + 1 == last || t[1].text(text) != "for" || depth == 0))
            return at(*t, "invalid syntax");
        if (word == "if") ++ifs[depth];
        if (word == "else" && ifs[depth]-- <= 0) return at(*t, "invalid syntax");
    }
    return std::nullopt;
}

}  // namespace

std::optional<SyntaxError> check_tokens(std::string_view text, const Token* first,
                                        const Token* last, bool is_header) {
    if (first == last) return std::nullopt;
    if (!is_header && first->kind == TokenKind::Op) {
        std::string_view op = first->text(text);
        if (op != "(" && op != "[" && op != "{" && op != "-" && op != "+" && op != "~" &&
            op != "*" && op != "...")
            return at(*first, "invalid syntax");
    }
    if (is_header && first->kind == TokenKind::Op && is_binary_only(first->text(text)))
        return at(*first, "invalid syntax");
    const Token* checked = first;
    if (first->kind == TokenKind::Name && first->text(text) == "from") {
        ++checked;
        // relative module names: "from ...pkg import x" puts '...' before a name
        while (checked < last && !(checked->kind == TokenKind::Name && checked->text(text) == "import")) {
            if (checked + 1 < last && checked->kind == TokenKind::Name && checked[1].kind == TokenKind::Name &&
                checked[1].text(text) != "import")
                return at(checked[1], "invalid syntax");
            ++checked;
        }
        if (checked == last) return at(last[-1], "invalid syntax");
        ++checked;
    }
    if (auto misplaced = check_keywords(text, is_header ? first : first + 1, first, last)) return misplaced;
    for (const Token* t = checked; t + 1 < last; ++t) {
        const Token& next = t[1];
        if (t->kind == TokenKind::String && next.kind == TokenKind::String) continue;
        if (is_op(text, *t, "<>") || is_op(text, next, "<>")) return at(*t, "invalid syntax");
        if (t->kind == TokenKind::Op && next.kind == TokenKind::Op &&
            !operators_fit(t->text(text), next.text(text)))
            return at(next, "invalid syntax");
        if (ends_operand(text, *t) && starts_operand(text, next)) {
            std::string_view word = first->text(text);
            if (t == first && first->kind == TokenKind::Name && (word == "print" || word == "exec"))
                return at(*first, "Missing parentheses in call to '" + std::string(word) +
                                      "'. Did you mean " + std::string(word) + "(...)?");
            return at(next, "invalid syntax");
        }
    }
    const Token& final_token = last[-1];
    if (!may_end(text, final_token, is_header)) return at(final_token, "invalid syntax");
    return std::nullopt;
}

std::optional<SyntaxError> check_parameters(std::string_view text, const Token* first,
                                            const Token* last) {
    int depth = 0;
    bool expect_parameter = true;
    for (const Token* t = first; t < last; ++t) {
        if (t->kind == TokenKind::Op) {
            std::string_view op = t->text(text);
            if (op == "(" || op == "[" || op == "{") {
                if (depth == 0 && expect_parameter) return at(*t, "invalid syntax");
                ++depth;
            } else if (op == ")" || op == "]" || op == "}") {
                --depth;
            } else if (depth == 0 && op == ",") {
                expect_parameter = true;
                continue;
            }
        }
        if (depth == 0 && expect_parameter) {
            bool ok = (t->kind == TokenKind::Name && !is_keyword(t->text(text))) ||
                      is_op(text, *t, "*") || is_op(text, *t, "**") || is_op(text, *t, "/");
            if (!ok) return at(*t, "invalid syntax");
            if (t->kind == TokenKind::Name) expect_parameter = false;
            if (is_op(text, *t, "/")) expect_parameter = false;
            if (is_op(text, *t, "*") && (t + 1 == last || is_op(text, t[1], ","))) expect_parameter = false;
        }
    }
    return std::nullopt;
}

}  // namespace jurigged::source
