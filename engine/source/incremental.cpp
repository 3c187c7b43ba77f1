// parse(source, ..., against): the tree of a new version of a file from the tree of an
// earlier one, re-reading only the top-level statements around the bytes that differ.
//
// Why the result is the whole-file parse's: at the start of a top-level statement that
// begins a line (not continued by a backslash) the tokenizer is in its initial state,
// and the tree builder has nothing open. The re-read piece runs from such a start at or
// before the first differing byte to such a start at or after the last one (in both
// texts, the same bytes follow it), so tokenizing and building the piece on its own
// produces the tokens and nodes the whole file would, with lines counted from the
// piece's first line; the piece ends with the dedents the whole file has before the
// statement that follows. Anything the piece cannot settle on its own (an error, a
// string or bracket left open, a clause like `else:` joining what came before) makes
// it fail, and then the whole file is parsed. Nodes before and after the piece are the
// old tree's, shared (NodeTable runs), those after it moved by whole lines and indices;
// their hashes do not depend on where they are. So is the line table.
#include <algorithm>
#include <cstring>
#include <optional>

#include "source/incremental.hpp"
#include "source/lines.hpp"
#include "source/range_hash.hpp"

namespace jurigged::source {

namespace {

std::size_t common_prefix(const char* x, const char* y, std::size_t n) {
    constexpr std::size_t block = 256;  // memcmp runs vectorised over whole blocks
    std::size_t i = 0;
    while (i + block <= n && std::memcmp(x + i, y + i, block) == 0) i += block;
    while (i < n && x[i] == y[i]) ++i;
    return i;
}

// Of the last `n` bytes before x_end and y_end.
std::size_t common_suffix(const char* x_end, const char* y_end, std::size_t n) {
    constexpr std::size_t block = 256;
    std::size_t i = 0;
    while (i + block <= n && std::memcmp(x_end - i - block, y_end - i - block, block) == 0) i += block;
    while (i < n && x_end[-1 - static_cast<std::ptrdiff_t>(i)] == y_end[-1 - static_cast<std::ptrdiff_t>(i)]) ++i;
    return i;
}

// Which old top-level statements the re-read piece replaces: [first, last) of
// Tree::top_level, the piece's bytes [begin, old_end) in the old text and
// [begin, new_end) in the new one.
struct Region {
    std::size_t first = 0, last = 0;
    std::size_t begin = 0, old_end = 0, new_end = 0;
    bool from_file_start = false;  // no statement is kept before the piece
};

std::optional<Region> changed_region(const Tree& old, std::string_view text) {
    std::string_view before = old.text;
    std::size_t shorter = std::min(before.size(), text.size());
    std::size_t prefix = common_prefix(before.data(), text.data(), shorter);
    std::size_t suffix = common_suffix(before.data() + before.size(), text.data() + text.size(), shorter - prefix);
    std::size_t old_change_end = before.size() - suffix;
    const std::vector<TopLevelStart>& top = old.top_level;

    Region region;
    // the last clean start at or before the first differing byte, else the file's start
    std::size_t at_or_before = static_cast<std::size_t>(
        std::upper_bound(top.begin(), top.end(), prefix,
                         [](std::size_t byte, const TopLevelStart& s) { return byte < s.byte; }) -
        top.begin());
    while (at_or_before > 0 && !top[at_or_before - 1].clean) --at_or_before;
    region.from_file_start = at_or_before == 0;
    region.first = region.from_file_start ? 0 : at_or_before - 1;
    region.begin = region.from_file_start ? 0 : top[region.first].byte;

    // the first clean start at or after the last differing byte, in both texts
    std::ptrdiff_t growth = static_cast<std::ptrdiff_t>(text.size()) - static_cast<std::ptrdiff_t>(before.size());
    std::size_t last = static_cast<std::size_t>(
        std::lower_bound(top.begin(), top.end(), std::max(old_change_end, region.begin),
                         [](const TopLevelStart& s, std::size_t byte) { return s.byte < byte; }) -
        top.begin());
    while (last < top.size() &&
           !(top[last].clean && tokenizer_starts_clean(text, static_cast<std::size_t>(top[last].byte + growth))))
        ++last;
    region.last = last;
    region.old_end = last < top.size() ? top[last].byte : before.size();
    region.new_end = last < top.size() ? static_cast<std::size_t>(top[last].byte + growth) : text.size();
    // re-reading most of the file and splicing it into the old tree would cost more than
    // a whole-file parse (a checkout, a reformatted file)
    if (2 * (region.new_end - region.begin) > text.size()) return std::nullopt;
    if (region.from_file_start && last == top.size()) return std::nullopt;  // the whole file
    return region;
}

class Splice {
public:
    Splice(const Tree& old, const Tree& piece, const Region& region)
        : old(old), piece(piece), region(region), top(old.top_level),
          starts_after(region.last < top.size()) {}

    Tree build(std::string&& text) {
        Tree tree;
        tree.python_minor = old.python_minor;
        locate();
        nodes(tree);
        nested_functions(tree);
        line_starts(tree);
        top_level(tree);
        module(tree);
        tree.line_count = starts_after ? old.line_count + suffix_lines : line_offset + piece.line_count;
        tree.text = std::move(text);
        tree.reuse = {old.id, prefix_end, old_suffix_begin, new_suffix_begin, suffix_lines};
        return tree;
    }

    // The module's end would come from before the piece, where it is not kept.
    bool ends_before_piece() const { return !starts_after && piece.nodes.module().children.empty(); }

private:
    const Tree& old;
    const Tree& piece;
    const Region& region;
    const std::vector<TopLevelStart>& top;
    bool starts_after;  // some old statements follow the piece

    int line_offset = 0;   // the piece's line 1 is the file's line 1 + line_offset
    int suffix_lines = 0;  // how far the statements after the piece moved
    int prefix_end = 1, old_suffix_begin = 0, new_suffix_begin = 0;  // node indices
    std::uint32_t piece_token = 0;  // index of the piece's first token in the file
    TokenSums before_piece, through_piece;

    void locate() {
        const TopLevelStart* start = region.from_file_start ? nullptr : &top[region.first];
        line_offset = start ? start->line - 1 : 0;
        prefix_end = start ? start->node : 1;
        piece_token = start ? start->token : 0;
        before_piece = start ? start->before : TokenSums{};
        through_piece = RangeHasher::concatenate(before_piece, RangeHasher::shifted(piece.all_tokens, line_offset));
        old_suffix_begin = starts_after ? top[region.last].node : static_cast<int>(old.nodes.size());
        new_suffix_begin = prefix_end + static_cast<int>(piece.nodes.size()) - 1;
        if (starts_after) {
            int piece_newlines = static_cast<int>(
                std::count(piece.text.begin(), piece.text.end(), '\n'));
            suffix_lines = line_offset + 1 + piece_newlines - top[region.last].line;
        }
    }

    // The kept nodes are the old tree's runs, moved; the piece's are its own store.
    void nodes(Tree& tree) const {
        NodeTable& out = tree.nodes;
        take(out, old.nodes, 1, prefix_end, 0, 0);
        take(out, piece.nodes, 1, static_cast<int>(piece.nodes.size()), prefix_end - 1, line_offset);
        take(out, old.nodes, old_suffix_begin, static_cast<int>(old.nodes.size()),
             new_suffix_begin - old_suffix_begin, suffix_lines);
        out.seal();
    }

    void nested_functions(Tree& tree) const {
        std::vector<int>& out = tree.nested_functions;
        for (int n : old.nested_functions)
            if (n < prefix_end) out.push_back(n);
        for (int n : piece.nested_functions) out.push_back(n + prefix_end - 1);
        for (int n : old.nested_functions)
            if (n >= old_suffix_begin) out.push_back(n - old_suffix_begin + new_suffix_begin);
    }

    // The old table's lines before and after the piece (moved), the piece's own between.
    void line_starts(Tree& tree) const {
        const std::vector<std::uint32_t>& before = old.line_starts;
        std::vector<std::uint32_t>& out = tree.line_starts;
        auto begin = static_cast<std::uint32_t>(region.begin);
        auto old_end = static_cast<std::uint32_t>(region.old_end), new_end = static_cast<std::uint32_t>(region.new_end);
        // the piece's first line is the piece's (an empty piece: the next statement's)
        auto kept = std::lower_bound(before.begin(), before.end(), begin);
        auto resume = starts_after ? std::lower_bound(before.begin(), before.end(), old_end) : before.end();
        out.reserve(static_cast<std::size_t>(kept - before.begin()) + piece.line_starts.size() +
                    static_cast<std::size_t>(before.end() - resume));
        out.insert(out.end(), before.begin(), kept);
        for (std::size_t k = 0; k < piece.line_starts.size(); ++k) {
            std::uint32_t start = piece.line_starts[k] + begin;
            if (starts_after && start >= new_end) break;  // the old table has it
            out.push_back(start);
        }
        std::size_t moved = out.size();
        out.insert(out.end(), resume, before.end());
        std::uint32_t growth = new_end - old_end;  // modulo 2^32, as the sum is
        for (std::size_t k = moved; k < out.size(); ++k) out[k] += growth;
    }

    // `from`'s nodes [begin, end), by reference, `shift` indices and `lines` lines on.
    static void take(NodeTable& out, const NodeTable& from, int begin, int end, int shift, int lines) {
        for (const NodeRun& run : from.runs()) {
            int first = std::max(run.begin, begin - run.shift), last = std::min(run.end, end - run.shift);
            if (first < last) out.append({run.store, first, last, run.shift + shift, run.lines + lines});
        }
    }

    void top_level(Tree& tree) {
        std::vector<TopLevelStart>& out = tree.top_level;
        out.reserve(region.first + piece.top_level.size() + (top.size() - region.last));
        out.insert(out.end(), top.begin(), top.begin() + static_cast<std::ptrdiff_t>(region.first));
        for (TopLevelStart start : piece.top_level) {
            start.byte += static_cast<std::uint32_t>(region.begin);
            start.token += piece_token;
            start.line += line_offset;
            start.node += prefix_end - 1;
            start.before = RangeHasher::concatenate(before_piece, RangeHasher::shifted(start.before, line_offset));
            out.push_back(start);
        }
        std::uint32_t piece_end_token = piece_token + piece.token_count;
        tree.token_count = piece_end_token;
        tree.all_tokens = through_piece;
        if (!starts_after) return;
        const TopLevelStart& resume = top[region.last];
        auto after_piece = [&](const TokenSums& old_sums) {
            return RangeHasher::concatenate(
                through_piece, RangeHasher::shifted(RangeHasher::between(resume.before, old_sums), suffix_lines));
        };
        std::uint32_t new_byte = static_cast<std::uint32_t>(region.new_end);
        for (std::size_t k = region.last; k < top.size(); ++k) {
            TopLevelStart start = top[k];
            start.byte = start.byte - resume.byte + new_byte;
            start.token = start.token - resume.token + piece_end_token;
            start.line += suffix_lines;
            start.node += new_suffix_begin - old_suffix_begin;
            start.before = after_piece(top[k].before);
            out.push_back(start);
        }
        tree.token_count = piece_end_token + (old.token_count - resume.token);
        tree.all_tokens = after_piece(old.all_tokens);
    }

    // The module node: its children, its end (the last statement's), hashes of all tokens.
    void module(Tree& tree) {
        Node& module = tree.nodes.module();
        module.kind = Kind::Module;
        module.children.reserve(tree.top_level.size());
        for (const TopLevelStart& start : tree.top_level) module.children.push_back(start.node);
        const Span& end = starts_after ? old.nodes.module().span : piece.nodes.module().span;
        int lines = starts_after ? suffix_lines : line_offset;
        module.span = {1, 0, end.end_line + lines, end.end_col};
        module.body_line = tree.nodes[static_cast<std::size_t>(module.children.front())].line();
        module.body_hash = RangeHasher::content_of(tree.all_tokens, tree.token_count);
        module.layout_hash = RangeHasher::layout_of(tree.all_tokens, tree.token_count, 1);
    }
};

// The incremental parse, or nothing when the whole file must be parsed.
std::optional<ParseResult> reparse(std::string& text, const Tree& old, bool as_is) {
    std::optional<Region> region = changed_region(old, text);
    if (!region) return std::nullopt;
    ParseResult piece = parse_decoded(text.substr(region->begin, region->new_end - region->begin), old.python_minor);
    if (!piece.tree) return std::nullopt;
    Splice splice(old, *piece.tree, *region);
    if (splice.ends_before_piece()) return std::nullopt;
    ParseResult result;
    result.tree = splice.build(std::move(text));
    result.tree->id = next_tree_id();
    // strict UTF-8 holds line by line: outside the piece, the old text's lines
    result.tree->text_is_source =
        as_is && is_strict_utf8(old.text_is_source ? std::string_view(piece.tree->text) : result.tree->text);
    return result;
}

}  // namespace

ParseResult parse(std::string_view source, bool utf8, int python_minor, const Tree& against) {
    std::string text;
    SyntaxError decode_error;
    bool as_is = false;
    if (!decode(source, utf8, text, decode_error, as_is)) return {std::nullopt, decode_error};
    if (against.id != 0 && against.python_minor == python_minor && !against.nodes.empty())
        if (std::optional<ParseResult> reused = reparse(text, against, as_is)) return std::move(*reused);
    ParseResult result = parse_decoded(std::move(text), python_minor);
    if (result.tree) result.tree->text_is_source = as_is && is_strict_utf8(result.tree->text);
    return result;
}

}  // namespace jurigged::source
