// A Python tokenizer written for the source model: the union of the 3.9-3.13 lexical
// grammar (3.12's nested f-strings included), positions exactly like ast, and errors
// worded like CPython's where that is practical. Never reads past the text.
#include "source/tokenizer.hpp"

#include "source/identifier_chars.hpp"
#include "source/utf8.hpp"

#include <initializer_list>
#include <string>

namespace jurigged::source {

namespace {

// CPython's limits (the lowest that every supported version enforces), which also
// bound the tokenizer's and the tree builder's work on hostile input.
constexpr int max_indent_levels = 100;  // CPython's MAXINDENT: 99 levels pass
constexpr int max_bracket_depth = 200;  // MAXLEVEL: 200 open brackets pass
constexpr int max_fstring_depth = 150;  // MAXFSTRINGLEVEL (3.12+): 149 nested strings pass
constexpr int max_spec_nesting = 3;     // fields nested through format specs (3.12+; 3.9-3.11: 2)

// Length of the operator or delimiter starting `rest` (longest match), 0 if none.
int operator_length(std::string_view rest) {
    char a = rest[0];
    char b = rest.size() > 1 ? rest[1] : '\0';
    char c = rest.size() > 2 ? rest[2] : '\0';
    switch (a) {
        case '*': case '/': case '>':  // ** **= // //= >> >>=
            if (b == a) return c == '=' ? 3 : 2;
            return b == '=' ? 2 : 1;
        case '<':  // << <<= <= <>
            if (b == '<') return c == '=' ? 3 : 2;
            return b == '=' || b == '>' ? 2 : 1;
        case '.':
            return b == '.' && c == '.' ? 3 : 1;
        case '-':
            return b == '=' || b == '>' ? 2 : 1;
        case '!':  // alone, only inside f-strings
            return b == '=' ? 2 : 0;
        case ':': case '=': case '%': case '&': case '+': case '@': case '^': case '|':
            return b == '=' ? 2 : 1;
        case '~': case '(': case ')': case '[': case ']': case '{': case '}': case ',': case ';':
            return 1;
        default:
            return 0;
    }
}

bool is_ascii_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool starts_identifier(char c) {
    return is_ascii_letter(c) || c == '_' || static_cast<unsigned char>(c) >= 0x80;
}
bool continues_identifier(char c) { return starts_identifier(c) || is_digit(c); }

// Code points CPython calls "non-printable" in its error message.
bool is_non_printable(char32_t cp) {
    return cp < 0xA0 || cp == 0xAD || (cp >= 0x200B && cp <= 0x200F) ||
           (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x206F) || cp == 0xFEFF;
}

std::string hex_code_point(char32_t cp) {
    static const char digits[] = "0123456789ABCDEF";
    std::string out;
    for (int shift = cp > 0xFFFF ? 20 : 12; shift >= 0; shift -= 4) out += digits[(cp >> shift) & 15];
    return "U+" + out;
}

// String prefixes are case-insensitive combinations of r, b, u, f, t (u alone; t is
// PEP 750's template string, 3.14).
struct Prefix {
    bool valid = false, raw = false, bytes = false;
    bool interpolated = false;     // f or t: replacement fields inside
    bool template_string = false;  // t
};

Prefix parse_prefix(std::string_view word) {
    Prefix p;
    if (word.size() > 2) return p;
    bool unicode = false;
    for (char c : word) {
        switch (c | 0x20) {
            case 'r': if (p.raw) return {}; p.raw = true; break;
            case 'b': if (p.bytes) return {}; p.bytes = true; break;
            case 'f': case 't':
                if (p.interpolated) return {};
                p.interpolated = true;
                p.template_string = (c | 0x20) == 't';
                break;
            case 'u': if (unicode) return {}; unicode = true; break;
            default: return {};
        }
    }
    if (unicode && word.size() > 1) return {};
    if (p.bytes && p.interpolated) return {};
    p.valid = true;
    return p;
}

class Tokenizer {
public:
    Tokenizer(std::string_view text, int python_minor)
        : s(text), continuation_keeps_indentation(python_minor <= 9) {}

    TokenizeResult run() {
        TokenizeResult result;
        if (auto nul = s.find('\0'); nul != std::string_view::npos) {
            while (pos < nul) step_over_char();
            fail(line, col_of(pos), "source code cannot contain null bytes");
        } else {
            scan();
        }
        result.line_count = 0;
        for (std::size_t at = s.find('\n'); at != std::string_view::npos; at = s.find('\n', at + 1))
            ++result.line_count;
        if (!s.empty() && s.back() != '\n') ++result.line_count;
        if (error) {
            // what came before the error, so that the caller can look for an earlier
            // statement error as CPython's lazy tokenizer would
            result.error = error;
            result.error_overrides_invalid_syntax = !found_in_order;
            std::uint32_t here = static_cast<std::uint32_t>(pos < s.size() ? pos : s.size());
            out.push_back({TokenKind::End, error->line, error->col, error->line, error->col, here, here});
        }
        result.tokens = std::move(out);
        return result;
    }

private:
    struct OpenBracket {
        char ch;
        int line, col;
    };

    // Where the scan of an f-/t-string is: the literal text of one string, the
    // expression of a replacement field, or a field's format spec.
    enum class Part : std::uint8_t { Literal, Expression, Spec };
    struct Interpolation {
        Part part;
        char quote;
        bool triple, raw, template_string;
        int begin_line, begin_col;  // where the string holding this part starts
        int brackets;               // Expression: brackets open inside the field
        bool empty;                 // Expression: nothing seen yet
        int field_level;            // Expression/Spec: 1, plus one per enclosing spec
    };

    std::string_view s;
    // 3.9 leaves the indentation as it was for a logical line that begins with a
    // backslash continuation; 3.10+ reads it from that first physical line
    bool continuation_keeps_indentation;
    std::size_t pos = 0;
    int line = 1;
    std::size_t line_start = 0;
    std::vector<Token> out;
    std::vector<OpenBracket> brackets;
    std::vector<Interpolation> nested;  // the f-/t-string being scanned, innermost last
    int open_strings = 0;               // Literal parts on `nested`
    std::vector<int> indents{0}, alt_indents{0};  // tab size 8 and tab size 1
    bool line_has_tokens = false;
    int token_line = 1, token_col = 0;  // where the current name or string started
    bool found_in_order = false;
    std::optional<SyntaxError> error;

    bool at_end(std::size_t k = 0) const { return pos + k >= s.size(); }
    char peek(std::size_t k = 0) const { return pos + k < s.size() ? s[pos + k] : '\0'; }
    int col_of(std::size_t p) const { return static_cast<int>(p - line_start); }

    bool fail(int at_line, int at_col, std::string message, ErrorClass error_class = ErrorClass::Syntax) {
        if (!error) error = SyntaxError{at_line, at_col, std::move(message), error_class};
        return false;
    }

    // Errors CPython's tokenizer only reports when its parser gets that far.
    bool fail_in_order(int at_line, int at_col, std::string message,
                       ErrorClass error_class = ErrorClass::Syntax) {
        if (!error) found_in_order = true;
        return fail(at_line, at_col, std::move(message), error_class);
    }

    // Moves past one byte, keeping the line count right.
    void step_over_char() {
        if (s[pos] == '\n') {
            ++line;
            line_start = pos + 1;
        }
        ++pos;
    }

    void emit(TokenKind kind, std::size_t begin, int begin_line, int begin_col) {
        out.push_back({kind, begin_line, begin_col, line, col_of(pos),
                       static_cast<std::uint32_t>(begin), static_cast<std::uint32_t>(pos)});
        if (kind != TokenKind::Indent && kind != TokenKind::Dedent) line_has_tokens = true;
    }

    void scan() {
        out.reserve(s.size() / 4 + 16);
        bool at_line_start = true;
        while (!error) {
            if (at_line_start) {
                at_line_start = false;
                if (!indentation()) continue;  // a blank or comment-only line
            }
            while (peek() == ' ' || peek() == '\t' || peek() == '\f') ++pos;
            if (at_end()) break;
            char c = peek();
            if (c == '#') {
                while (!at_end() && peek() != '\n') ++pos;
            } else if (c == '\n') {
                if (brackets.empty() && line_has_tokens) {
                    out.push_back({TokenKind::Newline, line, col_of(pos), line, col_of(pos) + 1,
                                   static_cast<std::uint32_t>(pos), static_cast<std::uint32_t>(pos)});
                    line_has_tokens = false;
                }
                step_over_char();
                at_line_start = brackets.empty();
            } else if (c == '\\') {
                continuation();
            } else if (is_digit(c) || (c == '.' && is_digit(peek(1)))) {
                number();
            } else if (starts_identifier(c)) {
                name_or_prefixed_string();
            } else if (c == '"' || c == '\'') {
                string_token(pos, Prefix{true, false, false, false, false});
            } else {
                op();
            }
        }
        if (error) return;
        if (!brackets.empty()) {
            const OpenBracket& open = brackets.back();
            fail(open.line, open.col, std::string("'") + open.ch + "' was never closed");
            return;
        }
        if (line_has_tokens)
            out.push_back({TokenKind::Newline, line, col_of(pos), line, col_of(pos) + 1,
                           static_cast<std::uint32_t>(pos), static_cast<std::uint32_t>(pos)});
        for (std::size_t i = 1; i < indents.size(); ++i)
            out.push_back({TokenKind::Dedent, line, col_of(pos), line, col_of(pos),
                           static_cast<std::uint32_t>(pos), static_cast<std::uint32_t>(pos)});
        end_of_last_line();
        out.push_back({TokenKind::End, line, col_of(pos), line, col_of(pos),
                       static_cast<std::uint32_t>(pos), static_cast<std::uint32_t>(pos)});
    }

    // Like CPython, errors found at the end of the input point at the end of the last
    // line that holds anything, not at the empty line after it.
    void end_of_last_line() {
        std::size_t end = s.size();
        while (end > 0 && (s[end - 1] == '\n' || s[end - 1] == ' ' || s[end - 1] == '\t' || s[end - 1] == '\f'))
            --end;
        std::size_t start = s.rfind('\n', end == 0 ? 0 : end - 1);
        start = (start == std::string_view::npos || end == 0) ? 0 : start + 1;
        int lines = 1;
        for (std::size_t k = 0; k < start; ++k) lines += s[k] == '\n';
        line = lines;
        line_start = start;
        pos = end;
    }

    // Steps over the backslash at pos and the newline after it; false, with CPython's
    // error, when something else follows the backslash or nothing follows the newline.
    bool continuation() {
        int backslash_line = line, after_col = col_of(pos) + 1;
        if (peek(1) != '\n') {
            if (at_end(1)) return fail_in_order(backslash_line, after_col, "unexpected EOF while parsing");
            return fail(line, after_col, "unexpected character after line continuation character");
        }
        ++pos;
        step_over_char();
        if (at_end()) return fail_in_order(backslash_line, after_col, "unexpected EOF while parsing");
        return true;
    }

    // Reads the indentation of a new logical line and emits Indent/Dedent tokens.
    // Returns false for blank and comment-only lines, which do not count, and on error.
    bool indentation() {
        int col = 0, alt = 0;
        bool continued = false;
        int continued_col = 0;  // where the first backslash continuation was, if not at 0
        while (!at_end()) {
            char c = peek();
            if (c == ' ') {
                ++col, ++alt;
            } else if (c == '\t') {
                col = (col / 8 + 1) * 8;
                ++alt;
            } else if (c == '\f') {
                col = alt = 0;
            } else if (c == '\\') {
                // since 3.10 a continuation here does not end the indentation; CPython
                // then takes the column of the first backslash, unless that was 0
                if (continued_col == 0) continued_col = col;
                continued = true;
                if (!continuation()) return false;
                continue;
            } else {
                break;
            }
            ++pos;
        }
        if (continued_col != 0) col = alt = continued_col;
        char c = peek();
        if (at_end() || c == '#' || c == '\n') return false;
        if (continued && continuation_keeps_indentation) return true;
        auto tab_error = [&] {
            return fail_in_order(line, col_of(pos), "inconsistent use of tabs and spaces in indentation",
                                 ErrorClass::Tab);
        };
        std::uint32_t here = static_cast<std::uint32_t>(pos);
        if (col == indents.back()) {
            if (alt != alt_indents.back()) return tab_error();
        } else if (col > indents.back()) {
            if (alt <= alt_indents.back()) return tab_error();
            if (static_cast<int>(indents.size()) >= max_indent_levels)
                return fail_in_order(line, col_of(pos), "too many levels of indentation",
                                     ErrorClass::Indentation);
            indents.push_back(col);
            alt_indents.push_back(alt);
            out.push_back({TokenKind::Indent, line, 0, line, col_of(pos), here - col_of(pos), here});
        } else {
            while (col < indents.back()) {
                indents.pop_back();
                alt_indents.pop_back();
                out.push_back({TokenKind::Dedent, line, col_of(pos), line, col_of(pos), here, here});
            }
            if (col != indents.back())
                return fail_in_order(line, col_of(pos), "unindent does not match any outer indentation level",
                                     ErrorClass::Indentation);
            if (alt != alt_indents.back()) return tab_error();
        }
        return true;
    }

    // Decodes the (valid, see decode.hpp) UTF-8 sequence at pos without moving.
    char32_t code_point_at(std::size_t p, std::size_t& length) const {
        unsigned char b = static_cast<unsigned char>(s[p]);
        length = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
        if (p + length > s.size()) length = s.size() - p;
        char32_t cp = length == 1 ? b : length == 2 ? (b & 0x1F) : length == 3 ? (b & 0x0F) : (b & 0x07);
        for (std::size_t k = 1; k < length; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[p + k]) & 0x3F);
        return cp;
    }

    // Like CPython 3.12+, a decoding error points at the token holding the bad bytes.
    bool not_utf8() {
        return fail(token_line, token_col, utf8_error_message(static_cast<unsigned char>(peek())));
    }

    // Moves past one character inside a string: a whole UTF-8 sequence, which must be
    // valid, or one byte (a newline counts a line).
    bool step_over_string_char() {
        if (static_cast<unsigned char>(peek()) >= 0x80) return step_over_non_ascii();
        step_over_char();
        return true;
    }

    bool step_over_non_ascii() {
        std::size_t length = utf8_sequence_length(s, pos);
        if (length == 0) return not_utf8();
        pos += length;
        return true;
    }

    // Scans an identifier at pos; false (with an error) on a character Python rejects.
    bool identifier() {
        std::size_t begin = pos;
        while (!at_end() && continues_identifier(peek())) {
            if (static_cast<unsigned char>(peek()) < 0x80) {
                ++pos;
                continue;
            }
            if (utf8_sequence_length(s, pos) == 0) return not_utf8();
            std::size_t length;
            char32_t cp = code_point_at(pos, length);
            bool valid = pos == begin ? starts_identifier_code_point(cp) : continues_identifier_code_point(cp);
            if (!valid) {
                std::string message = "invalid character '" + std::string(s.substr(pos, length)) +
                                      "' (" + hex_code_point(cp) + ")";
                if (is_non_printable(cp)) message = "invalid non-printable character " + hex_code_point(cp);
                return fail(line, col_of(pos), message);
            }
            pos += length;
        }
        return true;
    }

    void name_or_prefixed_string() {
        std::size_t begin = pos;
        int begin_col = col_of(pos);
        token_line = line;
        token_col = begin_col;
        if (!identifier()) return;
        std::string_view word = s.substr(begin, pos - begin);
        if (peek() == '"' || peek() == '\'') {
            Prefix prefix = parse_prefix(word);
            if (prefix.valid) {
                string_token(begin, prefix);
                return;
            }
        }
        emit(TokenKind::Name, begin, line, begin_col);
    }

    // A whole string literal starting at `begin` (its prefix), pos on the quote.
    void string_token(std::size_t begin, Prefix prefix) {
        int begin_line = line, begin_col = col_of(begin);
        token_line = begin_line;
        token_col = begin_col;
        if (string_body(prefix, begin_line, begin_col))
            emit(TokenKind::String, begin, begin_line, begin_col);
    }

    bool unterminated(bool triple, int begin_line, int begin_col) {
        std::string message = triple ? "unterminated triple-quoted string literal"
                                     : "unterminated string literal";
        return fail(begin_line, begin_col, message + " (detected at line " + std::to_string(line) + ")");
    }

    // Consumes the opening quote(s) and returns whether the string is triple-quoted.
    bool open_quote(char quote) {
        bool triple = peek(1) == quote && peek(2) == quote;
        pos += triple ? 3 : 1;
        return triple;
    }

    // At a quote character: true (and moves past) when it closes the string.
    bool closes(char quote, bool triple) {
        if (peek() != quote) return false;
        if (triple && !(peek(1) == quote && peek(2) == quote)) return false;
        pos += triple ? 3 : 1;
        return true;
    }

    bool string_body(Prefix prefix, int begin_line, int begin_col) {
        if (prefix.interpolated) return interpolated_string(prefix, begin_line, begin_col);
        return plain_string(prefix.bytes, begin_line, begin_col);
    }

    // A string without replacement fields, pos on its opening quote.
    bool plain_string(bool bytes, int begin_line, int begin_col) {
        char quote = peek();
        bool triple = open_quote(quote);
        while (true) {
            if (at_end()) return unterminated(triple, begin_line, begin_col);
            char c = peek();
            if (c == quote) {
                if (closes(quote, triple)) return true;
                ++pos;
            } else if (c == '\\') {
                ++pos;
                if (at_end()) return unterminated(triple, begin_line, begin_col);
                if (!step_over_string_char()) return false;
            } else if (c == '\n') {
                if (!triple) return unterminated(triple, begin_line, begin_col);
                step_over_char();
            } else {
                if (static_cast<unsigned char>(c) < 0x80) {
                    ++pos;
                } else if (bytes) {
                    return fail(begin_line, begin_col, "bytes can only contain ASCII literal characters");
                } else if (!step_over_non_ascii()) {
                    return false;
                }
            }
        }
    }

    // An f-string or t-string (PEP 701 nesting, PEP 750) with everything nested in it.
    // The nesting lives on `nested`, an explicit stack, so no input can exhaust the C++
    // stack; CPython's limits bound it all the same.
    bool interpolated_string(Prefix prefix, int begin_line, int begin_col) {
        nested.clear();
        open_strings = 0;
        if (!open_interpolated(prefix, begin_line, begin_col)) return false;
        while (!nested.empty()) {
            bool ok = false;
            switch (nested.back().part) {
                case Part::Literal: ok = literal_part(); break;
                case Part::Expression: ok = expression_part(); break;
                case Part::Spec: ok = spec_part(); break;
            }
            if (!ok) return false;
        }
        return true;
    }

    // Pushes the literal part of an f-/t-string, pos on its opening quote.
    bool open_interpolated(Prefix prefix, int begin_line, int begin_col) {
        if (open_strings + 1 >= max_fstring_depth) return fail(begin_line, begin_col, "too many nested f-strings");
        ++open_strings;
        char quote = peek();
        bool triple = open_quote(quote);
        nested.push_back({Part::Literal, quote, triple, prefix.raw, prefix.template_string,
                          begin_line, begin_col, 0, true, 0});
        return true;
    }

    // "f-string: ..." or "t-string: ...", after the innermost string's kind.
    std::string string_error(const Interpolation& part, const char* message) const {
        return std::string(part.template_string ? "t-string: " : "f-string: ") + message;
    }

    // Literal text until the string closes or a replacement field opens.
    bool literal_part() {
        Interpolation& part = nested.back();
        while (true) {
            if (at_end()) return unterminated(part.triple, part.begin_line, part.begin_col);
            char c = peek();
            if (c == part.quote) {
                if (closes(part.quote, part.triple)) {
                    nested.pop_back();
                    --open_strings;
                    return true;
                }
                ++pos;
            } else if (c == '\\') {
                ++pos;
                if (at_end()) return unterminated(part.triple, part.begin_line, part.begin_col);
                if (!part.raw && peek() == 'N' && peek(1) == '{') {
                    // \N{NAME}: these braces belong to the escape
                    while (!at_end() && peek() != '}' && peek() != '\n' && peek() != part.quote) ++pos;
                    if (peek() == '}') ++pos;
                } else if (peek() != '{' && peek() != '}') {
                    if (!step_over_string_char()) return false;
                }
            } else if (c == '\n') {
                if (!part.triple) return unterminated(part.triple, part.begin_line, part.begin_col);
                step_over_char();
            } else if (c == '{') {
                if (peek(1) == '{') {
                    pos += 2;
                } else {
                    ++pos;
                    open_field(part, 1);
                    return true;
                }
            } else if (c == '}') {
                if (peek(1) != '}') return fail(line, col_of(pos), string_error(part, "single '}' is not allowed"));
                pos += 2;
            } else if (!step_over_string_char()) {
                return false;
            }
        }
    }

    // `level` counts the fields this one is nested in through format specs, itself included.
    void open_field(const Interpolation& owner, int level) {
        Interpolation field = owner;
        field.part = Part::Expression;
        field.brackets = 0;
        field.empty = true;
        field.field_level = level;
        nested.push_back(field);
    }

    // A replacement field's expression after its '{', up to its optional !conversion,
    // then on to the format spec or the closing '}'.
    bool expression_part() {
        Interpolation& part = nested.back();
        while (true) {
            while (peek() == ' ' || peek() == '\t' || peek() == '\f') ++pos;
            if (at_end()) return unterminated(part.triple, part.begin_line, part.begin_col);
            char c = peek();
            if (c == '}' && part.brackets == 0) {
                if (part.empty)
                    return fail(line, col_of(pos), string_error(part, "valid expression required before '}'"));
                ++pos;
                nested.pop_back();
                return true;
            }
            if (c == '\n') {
                step_over_char();
                continue;
            }
            if (c == '#') {
                while (!at_end() && peek() != '\n') ++pos;
                continue;
            }
            part.empty = false;
            if (c == '"' || c == '\'') {
                if (!plain_string(false, line, col_of(pos))) return false;
            } else if (starts_identifier(c)) {
                std::size_t word_begin = pos;
                if (!identifier()) return false;
                if (peek() == '"' || peek() == '\'') {
                    Prefix prefix = parse_prefix(s.substr(word_begin, pos - word_begin));
                    if (prefix.interpolated) return open_interpolated(prefix, line, col_of(word_begin));
                    if (prefix.valid && !plain_string(prefix.bytes, line, col_of(word_begin))) return false;
                }
            } else if (c == '(' || c == '[' || c == '{') {
                // the field's own '{' counts, as in CPython's bracket stack
                if (++part.brackets + 1 > max_bracket_depth)
                    return fail(line, col_of(pos), "too many nested parentheses");
                ++pos;
            } else if (c == ')' || c == ']' || c == '}') {
                if (part.brackets == 0)
                    return fail(line, col_of(pos), string_error(part, "unmatched '") + c + "'");
                --part.brackets;
                ++pos;
            } else if (c == '\\') {
                ++pos;
                if (!at_end() && !step_over_string_char()) return false;
            } else if (part.brackets == 0 && c == '!' && peek(1) != '=') {
                ++pos;
                while (!at_end() && continues_identifier(peek())) ++pos;
            } else if (part.brackets == 0 && c == ':') {
                ++pos;
                part.part = Part::Spec;
                return true;
            } else if (c == '!' || c == '=' || c == '<' || c == '>') {
                ++pos;  // covers != == <= >= and the self-documenting '='
            } else if (!step_over_string_char()) {
                return false;
            }
        }
    }

    // A format spec after its ':', through the field's closing '}'.
    bool spec_part() {
        Interpolation& part = nested.back();
        while (true) {
            if (at_end()) return unterminated(part.triple, part.begin_line, part.begin_col);
            char c = peek();
            if (c == '}') {
                ++pos;
                nested.pop_back();
                return true;
            }
            if (c == '{') {
                if (part.field_level + 1 > max_spec_nesting)
                    return fail(line, col_of(pos), string_error(part, "expressions nested too deeply"));
                ++pos;
                open_field(part, part.field_level + 1);
                return true;
            } else if (c == part.quote && (!part.triple || (peek(1) == part.quote && peek(2) == part.quote))) {
                return fail(line, col_of(pos), string_error(part, "expecting '}'"));
            } else if (c == '\n') {
                if (!part.triple) return unterminated(part.triple, part.begin_line, part.begin_col);
                step_over_char();
            } else if (c == '\\') {
                ++pos;
                if (!at_end() && !step_over_string_char()) return false;
            } else if (!step_over_string_char()) {
                return false;
            }
        }
    }

    // Digits (with single underscores between them) accepted by `is_valid`; false with
    // an error on a misplaced underscore or when there is no digit at all.
    template <class IsValid>
    bool digits(IsValid is_valid, const char* kind, int begin_col) {
        if (!is_valid(peek())) return fail(line, begin_col, std::string("invalid ") + kind + " literal");
        while (true) {
            while (is_valid(peek())) ++pos;
            if (peek() != '_') return true;
            if (!is_valid(peek(1))) return fail(line, col_of(pos), std::string("invalid ") + kind + " literal");
            ++pos;
        }
    }

    void number() {
        std::size_t begin = pos;
        int begin_col = col_of(pos);
        const char* kind = "decimal";
        char second = static_cast<char>(peek(1) | 0x20);
        if (peek() == '0' && (second == 'x' || second == 'o' || second == 'b')) {
            pos += 2;
            if (peek() == '_') ++pos;
            bool ok;
            if (second == 'x') {
                kind = "hexadecimal";
                ok = digits([](char c) { return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); },
                            kind, begin_col);
            } else if (second == 'o') {
                kind = "octal";
                ok = digits([](char c) { return c >= '0' && c <= '7'; }, kind, begin_col);
            } else {
                kind = "binary";
                ok = digits([](char c) { return c == '0' || c == '1'; }, kind, begin_col);
            }
            if (!ok) return;
        } else {
            bool is_float = false, is_integer_part = peek() != '.';
            bool leading_zero = peek() == '0', nonzero = false;
            if (is_integer_part) {
                std::size_t int_begin = pos;
                if (!digits(is_digit, kind, begin_col)) return;
                for (std::size_t k = int_begin; k < pos; ++k) nonzero |= s[k] != '0' && s[k] != '_';
            }
            if (peek() == '.') {
                ++pos;
                is_float = true;
                if (is_digit(peek()) && !digits(is_digit, kind, begin_col)) return;
            }
            if ((peek() | 0x20) == 'e' &&
                (is_digit(peek(1)) || ((peek(1) == '+' || peek(1) == '-') && is_digit(peek(2))))) {
                pos += is_digit(peek(1)) ? 1 : 2;
                is_float = true;
                if (!digits(is_digit, kind, begin_col)) return;
            }
            if ((peek() | 0x20) == 'j') {
                ++pos;
                is_float = true;
            }
            if (!is_float && leading_zero && nonzero) {
                fail(line, begin_col,
                     "leading zeros in decimal integer literals are not permitted; use an 0o prefix "
                     "for octal integers");
                return;
            }
        }
        if (continues_identifier(peek()) && !keyword_follows()) {
            fail(line, begin_col, std::string("invalid ") + kind + " literal");
            return;
        }
        emit(TokenKind::Number, begin, line, begin_col);
    }

    // CPython lets a few keywords touch a number ("1if x else 2"), with a warning.
    bool keyword_follows() const {
        for (std::string_view kw : {"and", "else", "for", "if", "in", "is", "not", "or"}) {
            if (s.substr(pos, kw.size()) == kw) return true;
        }
        return false;
    }

    void op() {
        std::size_t begin = pos;
        int begin_col = col_of(pos);
        char c = peek();
        int length = operator_length(s.substr(pos));
        if (length == 0) {
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
                fail(line, begin_col, "invalid non-printable character " + hex_code_point(static_cast<unsigned char>(c)));
            } else {
                fail(line, begin_col, "invalid syntax");
            }
            return;
        }
        if (length > 1) {
            pos += length;
            emit(TokenKind::Op, begin, line, begin_col);
            return;
        }
        if (c == '(' || c == '[' || c == '{') {
            if (static_cast<int>(brackets.size()) >= max_bracket_depth) {
                fail(line, begin_col, "too many nested parentheses");
                return;
            }
            brackets.push_back({c, line, begin_col});
        } else if (c == ')' || c == ']' || c == '}') {
            if (brackets.empty()) {
                fail(line, begin_col, std::string("unmatched '") + c + "'");
                return;
            }
            OpenBracket open = brackets.back();
            char expected = open.ch == '(' ? ')' : open.ch == '[' ? ']' : '}';
            if (c != expected) {
                std::string message = std::string("closing parenthesis '") + c +
                                      "' does not match opening parenthesis '" + open.ch + "'";
                if (open.line != line) message += " on line " + std::to_string(open.line);
                fail(line, begin_col, message);
                return;
            }
            brackets.pop_back();
        }
        ++pos;
        emit(TokenKind::Op, begin, line, begin_col);
    }
};

}  // namespace

bool is_keyword(std::string_view name) {
    // called for every name: compare only against the keywords of the same length
    auto any_of = [&](std::initializer_list<std::string_view> words) {
        for (std::string_view word : words)
            if (word == name) return true;
        return false;
    };
    switch (name.size()) {
        case 2: return any_of({"as", "if", "in", "is", "or"});
        case 3: return any_of({"and", "def", "del", "for", "not", "try"});
        case 4: return any_of({"None", "True", "elif", "else", "from", "pass", "with"});
        case 5: return any_of({"False", "async", "await", "break", "class", "raise", "while", "yield"});
        case 6: return any_of({"assert", "except", "global", "import", "lambda", "return"});
        case 7: return name == "finally";
        case 8: return name == "continue" || name == "nonlocal";
        default: return false;
    }
}

TokenizeResult tokenize(std::string_view text, int python_minor) {
    return Tokenizer(text, python_minor).run();
}

}  // namespace jurigged::source
