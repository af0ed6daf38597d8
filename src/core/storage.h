// Zero-filled, 64-byte aligned storage for tensors.
#pragma once

#include <cstddef>
#include <memory>

namespace qlinear::core {

// Large blocks come straight from the kernel (already zero, in transparent huge pages
// where the system allows), so a big output costs neither a memset pass nor one page
// fault per 4 KiB when the kernels first write it.
std::shared_ptr<void> allocate_zeroed(std::size_t nbytes);

}  // namespace qlinear::core
