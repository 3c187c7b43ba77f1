// A code → functions multimap. Small vectors per code: a definition rarely has more
// than a handful of live function objects, and order of discovery is kept.
#include "patch/function_index.hpp"

#include <algorithm>

namespace jurigged::patch {

bool FunctionIndex::add(Handle code, Handle function) {
    auto& functions = by_code_[code];
    if (std::find(functions.begin(), functions.end(), function) != functions.end())
        return false;
    functions.push_back(function);
    return true;
}

std::vector<Handle> FunctionIndex::functions(Handle code,
                                             const std::function<bool(Handle)>& alive) {
    auto found = by_code_.find(code);
    if (found == by_code_.end()) return {};
    auto& functions = found->second;
    functions.erase(std::remove_if(functions.begin(), functions.end(),
                                   [&](Handle f) { return !alive(f); }),
                    functions.end());
    return functions;
}

void FunctionIndex::move(Handle old_code, Handle new_code) {
    if (old_code == new_code) return;
    auto moved = forget(old_code);
    for (Handle f : moved) add(new_code, f);
}

std::vector<Handle> FunctionIndex::forget(Handle code) {
    auto found = by_code_.find(code);
    if (found == by_code_.end()) return {};
    std::vector<Handle> functions = std::move(found->second);
    by_code_.erase(found);
    return functions;
}

std::vector<Handle> FunctionIndex::codes() const {
    std::vector<Handle> result;
    result.reserve(by_code_.size());
    for (const auto& entry : by_code_) result.push_back(entry.first);
    return result;
}

std::size_t FunctionIndex::size() const {
    std::size_t n = 0;
    for (const auto& entry : by_code_) n += entry.second.size();
    return n;
}

}  // namespace jurigged::patch
