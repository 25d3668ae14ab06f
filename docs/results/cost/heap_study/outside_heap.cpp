// A CPU allocator for a study of peak RSS (docs/results.md, "Cost", seventh
// round): while entered, every tensor of `min_bytes` or more is mapped afresh
// with mmap and unmapped when freed, so it never touches glibc's heap.
#include <c10/core/CPUAllocator.h>
#include <sys/mman.h>
#include <torch/extension.h>

namespace {

int64_t mapped = 0;  // the mappings made so far

struct Mapping {
  void* start;
  size_t length;
};

void unmap(void* ctx) {
  auto* m = static_cast<Mapping*>(ctx);
  munmap(m->start, m->length);
  delete m;
}

struct MappingAllocator final : c10::Allocator {
  c10::Allocator* heap = nullptr;
  size_t min_bytes = 65536;

  c10::DataPtr allocate(size_t n) override {
    if (n < min_bytes) return heap->allocate(n);
    size_t length = (n + 4095) & ~size_t(4095);
    void* p = mmap(nullptr, length, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    TORCH_CHECK(p != MAP_FAILED, "mmap of ", length, " bytes failed");
    ++mapped;
    if (length >= (size_t(2) << 20)) madvise(p, length, MADV_HUGEPAGE);
    return {p, new Mapping{p, length}, &unmap, c10::Device(c10::kCPU)};
  }

  void copy_data(void* dest, const void* src, size_t n) const override {
    default_copy_data(dest, src, n);
  }
};

MappingAllocator mapping;
int depth = 0;

}  // namespace

void enter(int64_t min_bytes) {
  if (depth++ == 0) {
    mapping.min_bytes = min_bytes;
    mapping.heap = c10::GetCPUAllocator();
    c10::SetCPUAllocator(&mapping, 0);
  }
}

void leave() {
  if (--depth == 0) c10::SetCPUAllocator(mapping.heap, 0);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("enter", &enter);
  m.def("leave", &leave);
  m.def("mapped", [] { return mapped; });
}
