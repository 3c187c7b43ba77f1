// NodeTable: a tree's nodes as runs of shared, immutable stores, so that a tree parsed
// against another takes the nodes it did not re-read by reference (their indices and
// lines moved by a per-run offset) instead of copying thousands of them.
#include <algorithm>

#include "source/model.hpp"

namespace jurigged::source {

namespace {

// Past this many runs, neighbouring runs are merged into one store (the smallest first,
// so a merge copies what recent edits made, not the file).
constexpr std::size_t most_runs = 24;

void move_lines(Node& node, int lines) {
    node.span.line += lines;
    node.span.end_line += lines;
    if (node.def_line) node.def_line += lines;
    if (node.body_line) node.body_line += lines;
}

std::size_t run_size(const NodeRun& run) { return static_cast<std::size_t>(run.end - run.begin); }

// One run holding the nodes of two neighbouring runs, copied into a new store whose
// positions are tree indices minus the new run's shift.
NodeRun merged(const NodeRun& x, const NodeRun& y) {
    NodeRun out;
    out.shift = x.first() - 1;
    auto store = std::make_shared<std::vector<Node>>();
    store->reserve(1 + run_size(x) + run_size(y));
    store->emplace_back();  // position 0 stands for the module, which runs never hold
    for (const NodeRun* run : {&x, &y}) {
        int rebase = run->shift - out.shift;
        for (int k = run->begin; k < run->end; ++k) {
            Node& node = store->emplace_back((*run->store)[static_cast<std::size_t>(k)]);
            if (node.parent > 0) node.parent += rebase;
            for (int& child : node.children) child += rebase;
            move_lines(node, run->lines);
        }
    }
    out.begin = 1;
    out.end = static_cast<int>(store->size());
    out.store = std::move(store);
    return out;
}

}  // namespace

std::vector<int> NodeRef::children() const {
    std::vector<int> out(node->children);
    for (int& child : out) child += shift_;
    return out;
}

Node NodeRef::materialize() const {
    Node out = *node;
    if (out.parent > 0) out.parent += shift_;
    for (int& child : out.children) child += shift_;
    move_lines(out, lines_);
    return out;
}

NodeTable::NodeTable(std::vector<Node>&& nodes) {
    if (nodes.empty()) return;
    count = nodes.size();
    module_ = std::move(nodes[0]);
    int end = static_cast<int>(nodes.size());
    if (end > 1)
        runs_.push_back({std::make_shared<const std::vector<Node>>(std::move(nodes)), 1, end, 0, 0});
}

const NodeRun& NodeTable::run_of(std::size_t index) const {
    int at = static_cast<int>(index);
    if (runs_.size() == 1) return runs_[0];
    auto found = std::upper_bound(runs_.begin(), runs_.end(), at,
                                  [](int i, const NodeRun& run) { return i < run.first(); });
    return *(found - 1);
}

NodeRef NodeTable::operator[](std::size_t index) const {
    if (index == 0) return {module_, 0, 0};
    const NodeRun& run = run_of(index);
    return {(*run.store)[index - static_cast<std::size_t>(run.shift)], run.shift, run.lines};
}

void NodeTable::append(NodeRun run) {
    if (run.end <= run.begin) return;
    if (count == 0) count = 1;  // the module
    count += run_size(run);
    runs_.push_back(std::move(run));
}

void NodeTable::seal() {
    if (count == 0) count = 1;
    while (runs_.size() > most_runs) {
        std::size_t best = 0;
        for (std::size_t k = 1; k + 1 < runs_.size(); ++k)
            if (run_size(runs_[k]) + run_size(runs_[k + 1]) < run_size(runs_[best]) + run_size(runs_[best + 1]))
                best = k;
        runs_[best] = merged(runs_[best], runs_[best + 1]);
        runs_.erase(runs_.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    }
}

Node* NodeTable::fresh(std::size_t index) {
    if (index == 0) return &module_;
    const NodeRun& run = run_of(index);
    if (run.store.use_count() != 1) return nullptr;
    // the store is this table's alone and the tree is not yet shared: safe to finish
    auto& nodes = const_cast<std::vector<Node>&>(*run.store);
    return &nodes[index - static_cast<std::size_t>(run.shift)];
}

std::size_t NodeTable::owned() const {
    std::size_t out = 0;
    for (const NodeRun& run : runs_)
        if (run.store.use_count() == 1) out += run.store->size();
    return out;
}

}  // namespace jurigged::source
