// diff(): pairs the nodes of two trees scope by scope and says what changed in each
// pair. Definitions pair by kind and name, statements by content, then by place.
#include <algorithm>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "source/model.hpp"

namespace jurigged::source {

namespace {

bool is_definition(Kind kind) {
    return kind == Kind::Class || kind == Kind::Function || kind == Kind::AsyncFunction;
}

class Differ {
public:
    Differ(const Tree& old_tree, const Tree& new_tree)
        : a(old_tree.nodes), b(new_tree.nodes), old_to_new(a.size(), -1), new_to_old(b.size(), -1),
          changes(b.size(), Unchanged) {
        if (old_tree.id != 0 && new_tree.reuse.against == old_tree.id) reuse = &new_tree.reuse;
    }

    Plan run() {
        Plan plan;
        if (a.empty() || b.empty()) return plan;
        pair(0, 0, content_changes(0, 0));
        match_children(0, 0);
        for (std::size_t n = 0; n < b.size(); ++n) {
            if (new_to_old[n] >= 0)
                plan.entries.push_back({changes[n], new_to_old[n], static_cast<int>(n)});
            else if (new_to_old[b[n].parent()] >= 0)
                plan.entries.push_back({Added, -1, static_cast<int>(n)});
        }
        for (std::size_t o = 1; o < a.size(); ++o) {
            if (old_to_new[o] < 0 && old_to_new[a[o].parent()] >= 0)
                plan.entries.push_back({Deleted, static_cast<int>(o), -1});
        }
        return plan;
    }

private:
    const NodeTable& a;  // old
    const NodeTable& b;  // new
    std::vector<int> old_to_new, new_to_old;
    std::vector<std::uint32_t> changes;  // per new node
    const Reuse* reuse = nullptr;  // new_tree was parsed against old_tree

    // The new node an incremental parse made of old node `o` (a copy, maybe moved), or -1.
    int reused_as(int o) const {
        if (o >= 1 && o < reuse->prefix_end) return o;
        if (o >= reuse->old_suffix_begin) return o - reuse->old_suffix_begin + reuse->new_suffix_begin;
        return -1;
    }

    // Matching a subtree with its copy pairs every node with its copy, as match_children
    // would (definitions pair at the strictest tier in order, statements all align), and
    // content_changes() finds equal hashes, so only the line shift decides: without
    // reading the nodes. [o, o + size) is the old subtree.
    void pair_copies(int o, int n, int size) {
        std::uint32_t change = o < reuse->prefix_end || reuse->suffix_lines == 0 ? Unchanged : Moved;
        for (int k = 1; k < size; ++k) pair(o + k, n + k, change);
    }

    void pair(int o, int n, std::uint32_t change) {
        old_to_new[o] = n;
        new_to_old[n] = o;
        changes[n] = change;
    }

    // What separates two nodes already known to be "the same" one.
    std::uint32_t content_changes(int o, int n) const {
        NodeRef x = a[o], y = b[n];
        std::uint32_t change = Unchanged;
        if (is_definition(x->kind)) {
            if (x->decorators_hash != y->decorators_hash) change |= DecoratorsChanged;
            if (x->header_hash != y->header_hash)
                change |= x->kind == Kind::Class ? ClassHeaderChanged : SignatureChanged;
            if (x->body_hash != y->body_hash) change |= BodyChanged;
        } else if (x->kind == Kind::Block) {
            // a block's own clauses; the definitions inside it get their own entries
            if (x->header_hash != y->header_hash) return BodyChanged;
            if (x->body_hash != y->body_hash) return x.line() != y.line() ? Moved : Unchanged;
        } else if (x->body_hash != y->body_hash) {
            change |= BodyChanged;
        }
        if (change != Unchanged) return change;
        if (x->layout_hash != y->layout_hash) return Reformatted;
        return x.line() != y.line() ? Moved : Unchanged;
    }

    // Scope by scope from the paired roots down, on a work list rather than by recursion
    // (nesting depth is bounded by the tokenizer's limits, but stack use should not be).
    void match_children(int old_root, int new_root) {
        std::vector<std::pair<int, int>> scopes{{old_root, new_root}};
        while (!scopes.empty()) {
            auto [o, n] = scopes.back();
            scopes.pop_back();
            std::vector<int> old_children = a[o].children(), new_children = b[n].children();
            if (reuse && o == 0)
                match_module_definitions(old_children, new_children);
            else
                match_definitions(old_children, new_children);
            match_statements(old_children, new_children);
            int next_sibling = static_cast<int>(b.size());  // of a module child: its subtree's end
            for (auto child = new_children.rbegin(); child != new_children.rend(); next_sibling = *child++) {
                int partner = new_to_old[*child];
                if (partner < 0) continue;
                if (reuse && n == 0 && reused_as(partner) == *child)
                    pair_copies(partner, *child, next_sibling - *child);
                else if (b[*child]->kind != Kind::Statement)
                    scopes.emplace_back(partner, *child);
            }
        }
    }

    // Same-named definitions in one scope (overloads, property accessors, redefinitions)
    // pair by similarity, strictest first; what is left pairs in source order.
    // match_definitions() at the top level of a tree parsed against the old one. A name
    // no re-read definition has (old or new) belongs to copies only, on both sides and
    // in the same order: those pair with their copies, as match_definitions() would
    // pair them (at its first tier, in order). Only the other names need its maps.
    void match_module_definitions(const std::vector<int>& old_children, const std::vector<int>& new_children) {
        std::vector<std::string_view> contested;  // few: the re-read part's definitions
        for (int c : old_children)
            if (reused_as(c) < 0 && is_definition(a[c]->kind)) contested.push_back(a[c]->name);
        for (int c : new_children)
            if (c >= reuse->prefix_end && c < reuse->new_suffix_begin && is_definition(b[c]->kind))
                contested.push_back(b[c]->name);
        if (contested.size() > 32) return match_definitions(old_children, new_children);  // a big change
        auto is_contested = [&](std::string_view name) {
            return std::find(contested.begin(), contested.end(), name) != contested.end();
        };
        std::vector<int> old_rest;
        for (int c : old_children) {
            if (!is_definition(a[c]->kind)) continue;
            int copy = reused_as(c);
            if (copy >= 0 && !is_contested(a[c]->name))
                pair(c, copy, content_changes(c, copy));
            else
                old_rest.push_back(c);
        }
        match_definitions(old_rest, new_children);
    }

    void match_definitions(const std::vector<int>& old_children, const std::vector<int>& new_children) {
        std::unordered_map<std::string_view, std::vector<int>> old_by_name;
        for (int c : old_children)
            if (is_definition(a[c]->kind)) old_by_name[a[c]->name].push_back(c);
        if (old_by_name.empty()) return;

        using Similar = bool (*)(const Node&, const Node&);
        static constexpr Similar tiers[] = {
            [](const Node& x, const Node& y) {
                return x.decorators_hash == y.decorators_hash && x.header_hash == y.header_hash &&
                       x.body_hash == y.body_hash;
            },
            [](const Node& x, const Node& y) { return x.body_hash == y.body_hash; },
            [](const Node& x, const Node& y) {
                return x.decorators_hash == y.decorators_hash && x.header_hash == y.header_hash;
            },
            [](const Node& x, const Node& y) { return x.header_hash == y.header_hash; },
            [](const Node& x, const Node& y) { return x.decorators_hash == y.decorators_hash; },
            [](const Node&, const Node&) { return true; },
        };
        for (Similar similar : tiers) {
            for (int c : new_children) {
                if (new_to_old[c] >= 0 || !is_definition(b[c]->kind)) continue;
                auto found = old_by_name.find(b[c]->name);
                if (found == old_by_name.end()) continue;
                for (int candidate : found->second) {
                    if (old_to_new[candidate] >= 0 || a[candidate]->kind != b[c]->kind) continue;
                    if (!similar(a[candidate].raw(), b[c].raw())) continue;
                    pair(candidate, c, content_changes(candidate, c));
                    break;
                }
            }
        }
    }

    std::uint64_t statement_key(const Node& node) const {
        return node.kind == Kind::Block ? node.header_hash ^ 0x9e3779b97f4a7c15ULL : node.body_hash;
    }

    // Statements and blocks: an in-order alignment on content (the longest common
    // subsequence, or a greedy one for huge scopes), then identical content out of
    // order, then what is left between two aligned statements pairs up as changes.
    void match_statements(const std::vector<int>& old_children, const std::vector<int>& new_children) {
        std::vector<int> xs, ys;
        for (int c : old_children)
            if (!is_definition(a[c]->kind)) xs.push_back(c);
        for (int c : new_children)
            if (!is_definition(b[c]->kind)) ys.push_back(c);
        if (xs.empty() || ys.empty()) return;

        std::vector<std::pair<int, int>> anchors = align(xs, ys);
        for (auto [x, y] : anchors) pair(x, y, content_changes(x, y));

        std::unordered_map<std::uint64_t, std::vector<int>> unpaired_old;
        for (int x : xs)
            if (old_to_new[x] < 0) unpaired_old[statement_key(a[x].raw())].push_back(x);
        for (int y : ys) {
            if (new_to_old[y] >= 0) continue;
            auto found = unpaired_old.find(statement_key(b[y].raw()));
            if (found == unpaired_old.end()) continue;
            for (int x : found->second) {
                if (old_to_new[x] >= 0 || a[x]->kind != b[y]->kind) continue;
                pair(x, y, content_changes(x, y));
                break;
            }
        }

        // Walk the gaps between anchors, pairing leftovers of the same kind in order.
        std::size_t xi = 0, yi = 0;
        anchors.push_back({-1, -1});
        for (auto [ax, ay] : anchors) {
            std::vector<int> gap_old, gap_new;
            for (; xi < xs.size() && xs[xi] != ax; ++xi)
                if (old_to_new[xs[xi]] < 0) gap_old.push_back(xs[xi]);
            for (; yi < ys.size() && ys[yi] != ay; ++yi)
                if (new_to_old[ys[yi]] < 0) gap_new.push_back(ys[yi]);
            ++xi, ++yi;
            std::size_t k = 0;
            for (int y : gap_new) {
                for (std::size_t j = k; j < gap_old.size(); ++j) {
                    if (a[gap_old[j]]->kind != b[y]->kind) continue;
                    pair(gap_old[j], y, content_changes(gap_old[j], y));
                    k = j + 1;
                    break;
                }
            }
        }
    }

    std::vector<std::pair<int, int>> align(const std::vector<int>& xs, const std::vector<int>& ys) const {
        auto same = [&](int x, int y) {
            return a[x]->kind == b[y]->kind && statement_key(a[x].raw()) == statement_key(b[y].raw());
        };
        std::vector<std::pair<int, int>> head, tail;
        std::size_t lo = 0, hx = xs.size(), hy = ys.size();
        while (lo < hx && lo < hy && same(xs[lo], ys[lo])) head.push_back({xs[lo], ys[lo]}), ++lo;
        while (hx > lo && hy > lo && same(xs[hx - 1], ys[hy - 1])) tail.push_back({xs[--hx], ys[--hy]});

        std::size_t n = hx - lo, m = hy - lo;
        std::vector<std::pair<int, int>> middle;
        if (n > 0 && m > 0 && n * m <= 4'000'000) {
            std::vector<std::uint32_t> table((n + 1) * (m + 1), 0);  // LCS lengths of suffixes
            auto at = [&](std::size_t i, std::size_t j) -> std::uint32_t& { return table[i * (m + 1) + j]; };
            for (std::size_t i = n; i-- > 0;)
                for (std::size_t j = m; j-- > 0;)
                    at(i, j) = same(xs[lo + i], ys[lo + j]) ? at(i + 1, j + 1) + 1
                                                            : std::max(at(i + 1, j), at(i, j + 1));
            for (std::size_t i = 0, j = 0; i < n && j < m;) {
                if (same(xs[lo + i], ys[lo + j])) middle.push_back({xs[lo + i++], ys[lo + j++]});
                else if (at(i + 1, j) >= at(i, j + 1)) ++i;
                else ++j;
            }
        } else if (n > 0 && m > 0) {
            std::unordered_map<std::uint64_t, std::vector<std::size_t>> positions;
            for (std::size_t i = n; i-- > 0;) positions[statement_key(a[xs[lo + i]].raw())].push_back(i);
            std::size_t next = 0;
            for (std::size_t j = 0; j < m; ++j) {
                auto found = positions.find(statement_key(b[ys[lo + j]].raw()));
                if (found == positions.end()) continue;
                std::vector<std::size_t>& stack = found->second;  // ascending from the back
                while (!stack.empty() && stack.back() < next) stack.pop_back();
                if (stack.empty() || !same(xs[lo + stack.back()], ys[lo + j])) continue;
                middle.push_back({xs[lo + stack.back()], ys[lo + j]});
                next = stack.back() + 1;
                stack.pop_back();
            }
        }
        head.insert(head.end(), middle.begin(), middle.end());
        head.insert(head.end(), tail.rbegin(), tail.rend());
        return head;
    }
};

}  // namespace

Plan diff(const Tree& old_tree, const Tree& new_tree) { return Differ(old_tree, new_tree).run(); }

}  // namespace jurigged::source
