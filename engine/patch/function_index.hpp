// The function index: which live functions use which code object, so that a patch
// finds the functions of a changed definition without scanning the heap. Pure C++:
// the binding supplies opaque handles and says which of them are still alive.
#pragma once

#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

namespace jurigged::patch {

using Handle = std::uintptr_t;

class FunctionIndex {
public:
    // Record that `function` runs `code`. Returns false if it was already recorded.
    bool add(Handle code, Handle function);

    // The functions recorded for `code`; those `alive` rejects are dropped for good.
    std::vector<Handle> functions(Handle code, const std::function<bool(Handle)>& alive);

    // After a patch: every function of `old_code` now runs `new_code`.
    void move(Handle old_code, Handle new_code);

    // Forget `code` and its functions; returns the functions that were recorded.
    std::vector<Handle> forget(Handle code);

    bool contains(Handle code) const { return by_code_.count(code) != 0; }
    std::vector<Handle> codes() const;
    std::size_t size() const;

private:
    std::unordered_map<Handle, std::vector<Handle>> by_code_;
};

}  // namespace jurigged::patch
