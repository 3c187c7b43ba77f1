// PEP 263 / PEP 3120 decoding of Python source files into normalized UTF-8 text.
#include "source/decode.hpp"

#include <algorithm>
#include <cctype>

#include "source/charsets.hpp"
#include "source/utf8.hpp"

namespace jurigged::source {

namespace {

constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\f'; }

// The raw line at `pos` (any line ending), without its ending; moves `pos` past it.
std::string_view raw_line(std::string_view raw, std::size_t& pos) {
    std::size_t start = pos;
    while (pos < raw.size() && raw[pos] != '\n' && raw[pos] != '\r') ++pos;
    std::string_view line = raw.substr(start, pos - start);
    if (pos < raw.size()) {
        if (raw[pos] == '\r' && pos + 1 < raw.size() && raw[pos + 1] == '\n') ++pos;
        ++pos;
    }
    return line;
}

// The encoding named by a coding cookie on this line, or "" when it has none. A cookie
// lives in a comment that starts the line: "# ... coding[:=] name".
std::string cookie_of(std::string_view line) {
    std::size_t i = 0;
    while (i < line.size() && is_blank(line[i])) ++i;
    if (i >= line.size() || line[i] != '#') return {};
    for (std::size_t at = line.find("coding", i); at != std::string_view::npos;
         at = line.find("coding", at + 1)) {
        std::size_t j = at + 6;
        if (j >= line.size() || (line[j] != ':' && line[j] != '=')) continue;
        ++j;
        while (j < line.size() && (line[j] == ' ' || line[j] == '\t')) ++j;
        std::size_t name_start = j;
        while (j < line.size() && (std::isalnum(static_cast<unsigned char>(line[j])) ||
                                   line[j] == '-' || line[j] == '_' || line[j] == '.'))
            ++j;
        if (j > name_start) return std::string(line.substr(name_start, j - name_start));
    }
    return {};
}

// Whether a line is blank or only a comment, which lets a cookie sit on line 2.
bool is_blank_or_comment(std::string_view line) {
    for (char c : line) {
        if (c == '#') return true;
        if (!is_blank(c)) return false;
    }
    return true;
}

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

// Python's codec registry accepts many spellings; fold the ones seen in practice.
std::string canonical_encoding(std::string name) {
    for (char& c : name) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (c == '_' || c == ' ') c = '-';
    }
    auto is_or_prefixes = [&](std::string_view base) {
        return name == base || starts_with(name, std::string(base) + "-");
    };
    if (is_or_prefixes("utf-8") || name == "utf8" || name == "u8") return "utf-8";
    if (is_or_prefixes("latin-1") || is_or_prefixes("iso-8859-1") ||
        is_or_prefixes("iso-latin-1") || name == "latin1" || name == "iso8859-1" ||
        name == "l1" || name == "latin" || name == "cp819" || name == "8859")
        return "latin-1";
    if (name == "ascii" || name == "us-ascii" || name == "646") return "ascii";
    if (name == "cp1252" || name == "windows-1252") return "cp1252";
    if (name == "iso-8859-15" || name == "iso8859-15" || name == "latin9" ||
        name == "latin-9" || name == "l9")
        return "iso-8859-15";
    if (name == "iso-8859-5" || name == "iso8859-5" || name == "cyrillic") return "iso-8859-5";
    if (name == "koi8-r" || name == "koi8r" || name == "cskoi8r") return "koi8-r";
    return name;
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// 1-based line and 0-based column of a byte offset in raw text.
void locate(std::string_view raw, std::size_t offset, SyntaxError& error) {
    int line = 1;
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < offset && i < raw.size(); ++i) {
        if (raw[i] == '\n' || (raw[i] == '\r' && (i + 1 >= raw.size() || raw[i + 1] != '\n'))) {
            ++line;
            line_start = i + 1;
        }
    }
    error.line = line;
    error.col = static_cast<int>(offset - line_start);
}

// Every line ending as '\n'; whether there was none other.
bool fold_newlines(std::string_view from, std::string& text) {
    text.clear();
    text.reserve(from.size());
    for (std::size_t i = 0; i < from.size();) {
        std::size_t cr = from.find('\r', i);
        if (cr == std::string_view::npos) cr = from.size();
        text.append(from.substr(i, cr - i));
        if (cr == from.size()) return i == 0;
        text += '\n';
        i = cr + 1;
        if (i < from.size() && from[i] == '\n') ++i;
    }
    return from.empty();
}

}  // namespace

void normalize_utf8(std::string_view raw, std::string& text) { fold_newlines(raw, text); }

bool decode_source(std::string_view raw, std::string& text, SyntaxError& error, bool* as_is) {
    bool has_bom = starts_with(raw, utf8_bom);
    if (has_bom) raw.remove_prefix(utf8_bom.size());

    std::size_t pos = 0;
    std::string_view first = raw_line(raw, pos);
    std::string cookie = cookie_of(first);
    if (cookie.empty() && is_blank_or_comment(first)) cookie = cookie_of(raw_line(raw, pos));

    std::string encoding = cookie.empty() ? "utf-8" : canonical_encoding(cookie);
    // CPython compares the cookie itself here, so "utf8" next to a BOM is an error
    std::string spelled = cookie;
    for (char& c : spelled) c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    bool spelled_utf8 = spelled.substr(0, 5) == "utf-8" && (spelled.size() == 5 || spelled[5] == '-');
    if (has_bom && !cookie.empty() && !spelled_utf8) {
        error = {1, 0, "encoding problem: " + cookie + " with BOM"};
        return false;
    }

    std::string utf8;  // the source re-encoded, unless it is UTF-8 already
    if (encoding == "utf-8") {
        // ast.parse() tolerates malformed UTF-8 in comments, so the tokenizer checks it
    } else if (encoding == "ascii") {
        for (std::size_t i = 0; i < raw.size(); ++i) {
            if (static_cast<unsigned char>(raw[i]) >= 0x80) {
                locate(raw, i, error);
                error.message = "(unicode error) 'ascii' codec can't decode byte: ordinal not in range(128)";
                return false;
            }
        }
        utf8.assign(raw);
    } else if (encoding == "latin-1") {
        for (unsigned char b : raw) append_utf8(utf8, b);
    } else if (const char32_t* upper = single_byte_charset(encoding)) {
        for (std::size_t i = 0; i < raw.size(); ++i) {
            unsigned char b = static_cast<unsigned char>(raw[i]);
            char32_t cp = b < 0x80 ? b : upper[b - 0x80];
            if (cp == 0 && b != 0) {
                locate(raw, i, error);
                error.message = "(unicode error) '" + encoding + "' codec can't decode byte";
                return false;
            }
            append_utf8(utf8, cp);
        }
    } else {
        error = {1, 0, "unknown encoding: " + cookie};
        return false;
    }

    bool folded_nothing = fold_newlines(encoding == "utf-8" ? raw : std::string_view(utf8), text);
    if (as_is) *as_is = folded_nothing && encoding == "utf-8" && !has_bom;
    return true;
}

}  // namespace jurigged::source
