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
        : a(old_tree.nodes), b(new_tree.nodes), old_top(old_tree.top_level), new_top(new_tree.top_level),
          old_to_new(a.size(), -1), new_to_old(b.size(), -1),
          changes(b.size(), Unchanged) {
        if (old_tree.id != 0 && new_tree.reuse.against == old_tree.id) reuse = &new_tree.reuse;
    }

    Plan run() {
        Plan plan;
        if (a.empty() || b.empty()) return plan;
        plan.entries.reserve(b.size() + 16);  // one per new node, and a few deletions
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
    // the module's children, in order, with their kinds and keys: read there rather than
    // from nodes scattered in memory
    const std::vector<TopLevelStart>& old_top;
    const std::vector<TopLevelStart>& new_top;
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
        std::uint32_t change = copy_change(o);
        for (int k = 1; k < size; ++k) pair(o + k, n + k, change);
    }

    // What content_changes(o, reused_as(o)) finds: the same hashes, maybe moved.
    std::uint32_t copy_change(int o) const {
        return o < reuse->prefix_end || reuse->suffix_lines == 0 ? Unchanged : Moved;
    }

    // content_changes() of a pair, without reading the nodes of a copy.
    std::uint32_t pair_changes(int o, int n) const {
        return reuse && reused_as(o) == n ? copy_change(o) : content_changes(o, n);
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
                match_module_definitions(new_children);
            else
                match_definitions(old_children, new_children);
            if (o == 0 && n == 0)
                match_statements(statements_of(old_top), statements_of(new_top));
            else
                match_statements(statements_of(a, old_children), statements_of(b, new_children));
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
    void match_module_definitions(const std::vector<int>& new_children) {
        // names by their hashes (TopLevelStart::key): an equal hash only sends a name
        // through match_definitions(), which pairs it as this would
        std::vector<std::uint64_t> contested;  // few: the re-read part's definitions
        for (const TopLevelStart& s : old_top)
            if (reused_as(s.node) < 0 && is_definition(s.kind)) contested.push_back(s.key);
        for (const TopLevelStart& s : new_top)
            if (s.node >= reuse->prefix_end && s.node < reuse->new_suffix_begin && is_definition(s.kind))
                contested.push_back(s.key);
        std::vector<int> old_children;
        bool any_name = std::find(contested.begin(), contested.end(), non_ascii_name_key) != contested.end();
        if (contested.size() > 32 || any_name) {  // a big change, or names to compare folded
            for (const TopLevelStart& s : old_top) old_children.push_back(s.node);
            return match_definitions(old_children, new_children);
        }
        auto is_contested = [&](std::uint64_t key) {
            return key == non_ascii_name_key || std::find(contested.begin(), contested.end(), key) != contested.end();
        };
        std::vector<int> old_rest, new_rest;
        for (const TopLevelStart& s : old_top) {
            if (!is_definition(s.kind)) continue;
            int copy = reused_as(s.node);
            if (copy >= 0 && !is_contested(s.key))
                pair(s.node, copy, copy_change(s.node));
            else
                old_rest.push_back(s.node);
        }
        for (const TopLevelStart& s : new_top)
            if (is_definition(s.kind) && new_to_old[s.node] < 0) new_rest.push_back(s.node);
        match_definitions(old_rest, new_rest);
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

    // A statement or block child of a scope, with what match_statements() pairs on.
    struct Statement {
        int node;
        Kind kind;
        std::uint64_t key;  // statement_key()
    };

    static std::vector<Statement> statements_of(const NodeTable& nodes, const std::vector<int>& children) {
        std::vector<Statement> out;
        for (int c : children) {
            NodeRef node = nodes[static_cast<std::size_t>(c)];
            if (!is_definition(node->kind)) out.push_back({c, node->kind, statement_key(node.raw())});
        }
        return out;
    }

    static std::vector<Statement> statements_of(const std::vector<TopLevelStart>& top) {
        std::vector<Statement> out;
        for (const TopLevelStart& s : top)
            if (!is_definition(s.kind)) out.push_back({s.node, s.kind, s.key});
        return out;
    }

    // Statements and blocks: an in-order alignment on content (the longest common
    // subsequence, or a greedy one for huge scopes), then identical content out of
    // order, then what is left between two aligned statements pairs up as changes.
    void match_statements(const std::vector<Statement>& xs, const std::vector<Statement>& ys) {
        if (xs.empty() || ys.empty()) return;

        std::vector<std::pair<int, int>> anchors = align(xs, ys);
        for (auto [x, y] : anchors) pair(xs[x].node, ys[y].node, pair_changes(xs[x].node, ys[y].node));

        std::unordered_map<std::uint64_t, std::vector<const Statement*>> unpaired_old;
        for (const Statement& x : xs)
            if (old_to_new[x.node] < 0) unpaired_old[x.key].push_back(&x);
        for (const Statement& y : ys) {
            if (new_to_old[y.node] >= 0) continue;
            auto found = unpaired_old.find(y.key);
            if (found == unpaired_old.end()) continue;
            for (const Statement* x : found->second) {
                if (old_to_new[x->node] >= 0 || x->kind != y.kind) continue;
                pair(x->node, y.node, content_changes(x->node, y.node));
                break;
            }
        }

        // Walk the gaps between anchors, pairing leftovers of the same kind in order.
        std::size_t xi = 0, yi = 0;
        anchors.push_back({static_cast<int>(xs.size()), static_cast<int>(ys.size())});
        for (auto [ax, ay] : anchors) {
            std::vector<const Statement*> gap_old, gap_new;
            for (; xi < static_cast<std::size_t>(ax); ++xi)
                if (old_to_new[xs[xi].node] < 0) gap_old.push_back(&xs[xi]);
            for (; yi < static_cast<std::size_t>(ay); ++yi)
                if (new_to_old[ys[yi].node] < 0) gap_new.push_back(&ys[yi]);
            ++xi, ++yi;
            std::size_t k = 0;
            for (const Statement* y : gap_new) {
                for (std::size_t j = k; j < gap_old.size(); ++j) {
                    if (gap_old[j]->kind != y->kind) continue;
                    pair(gap_old[j]->node, y->node, content_changes(gap_old[j]->node, y->node));
                    k = j + 1;
                    break;
                }
            }
        }
    }

    // Positions in xs and ys of the pairs aligned, in order.
    std::vector<std::pair<int, int>> align(const std::vector<Statement>& xs, const std::vector<Statement>& ys) const {
        auto same = [&](std::size_t i, std::size_t j) { return xs[i].kind == ys[j].kind && xs[i].key == ys[j].key; };
        auto at_pair = [](std::size_t i, std::size_t j) { return std::pair<int, int>(static_cast<int>(i), static_cast<int>(j)); };
        std::vector<std::pair<int, int>> head, tail;
        std::size_t lo = 0, hx = xs.size(), hy = ys.size();
        while (lo < hx && lo < hy && same(lo, lo)) head.push_back(at_pair(lo, lo)), ++lo;
        while (hx > lo && hy > lo && same(hx - 1, hy - 1)) --hx, --hy, tail.push_back(at_pair(hx, hy));

        std::size_t n = hx - lo, m = hy - lo;
        std::vector<std::pair<int, int>> middle;
        if (n > 0 && m > 0 && n * m <= 4'000'000) {
            std::vector<std::uint32_t> table((n + 1) * (m + 1), 0);  // LCS lengths of suffixes
            auto at = [&](std::size_t i, std::size_t j) -> std::uint32_t& { return table[i * (m + 1) + j]; };
            for (std::size_t i = n; i-- > 0;)
                for (std::size_t j = m; j-- > 0;)
                    at(i, j) = same(lo + i, lo + j) ? at(i + 1, j + 1) + 1
                                                            : std::max(at(i + 1, j), at(i, j + 1));
            for (std::size_t i = 0, j = 0; i < n && j < m;) {
                if (same(lo + i, lo + j)) middle.push_back(at_pair(lo + i, lo + j)), ++i, ++j;
                else if (at(i + 1, j) >= at(i, j + 1)) ++i;
                else ++j;
            }
        } else if (n > 0 && m > 0) {
            std::unordered_map<std::uint64_t, std::vector<std::size_t>> positions;
            for (std::size_t i = n; i-- > 0;) positions[xs[lo + i].key].push_back(i);
            std::size_t next = 0;
            for (std::size_t j = 0; j < m; ++j) {
                auto found = positions.find(ys[lo + j].key);
                if (found == positions.end()) continue;
                std::vector<std::size_t>& stack = found->second;  // ascending from the back
                while (!stack.empty() && stack.back() < next) stack.pop_back();
                if (stack.empty() || !same(lo + stack.back(), lo + j)) continue;
                middle.push_back(at_pair(lo + stack.back(), lo + j));
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
