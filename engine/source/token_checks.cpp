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
    const Token* checked = first;
    if (first->kind == TokenKind::Name && first->text(text) == "from") {
        // relative module names: "from ...pkg import x" puts '...' before a name
        while (checked < last && !(checked->kind == TokenKind::Name && checked->text(text) == "import"))
            ++checked;
    }
    for (const Token* t = checked; t + 1 < last; ++t) {
        const Token& next = t[1];
        if (t->kind == TokenKind::String && next.kind == TokenKind::String) continue;
        if (is_op(text, *t, "<>") || is_op(text, next, "<>")) return at(*t, "invalid syntax");
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
