// Build and runtime configuration: ISA tiers, threads, the memory limit and the cache of
// recycled blocks, version, and the kernels' activation (exposed so tests can measure its
// accuracy directly).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>

#include "pyrnn/buffer.h"
#include "pyrnn/codes.h"
#include "pyrnn/isa.h"
#include "pyrnn/kernels.h"
#include "pyrnn/platform.h"
#include "pyrnn/tensor.h"
#include "pyrnn/threadpool.h"

namespace py = pybind11;

#ifndef PYRNN_VERSION
#define PYRNN_VERSION "0.0.0"
#endif

namespace pyrnn {

void register_config(py::module_& m) {
  // A bad PYRNN_ISA fails the import with the reason, rather than silently running
  // another tier than the one asked for.
  try {
    init_isa_from_env();
  } catch (const std::exception& e) {
    throw py::import_error(std::string(e.what()) + " (from the PYRNN_ISA environment variable)");
  }
  m.attr("__version__") = PYRNN_VERSION;
  m.attr("build_compiler") = build_compiler();
  m.attr("build_target") = build_target();
  m.def("compiled_isas", &compiled_isas, "ISA tiers compiled into this build.");
  m.def("supported_isas", &supported_isas, "Compiled ISA tiers this CPU can run.");
  m.def("cpu_features", &cpu_features);
  m.def("current_isa", [] { return std::string(isa_name(current_isa())); }, "The tier calls use.");
  m.def(
      "set_isa", [](const std::string& name) { set_isa(parse_isa(name)); }, py::arg("name"),
      "Switch the tier used by later calls (all layers; packed weights do not depend on it).");
  m.def(
      "set_num_threads",
      [](int n) {
        if (n < 1) throw std::invalid_argument("number of threads must be >= 1, got " + std::to_string(n));
        set_num_threads(n);
      },
      py::arg("n"));
  m.def(
      "compute_types",
      [] {
        std::vector<std::pair<std::string, std::string>> v;
        const char* names[] = {"float32", "bfloat16", "float16", "int8"};
        for (int i = 0; i < static_cast<int>(ComputeType::kCount); ++i)
          v.emplace_back(names[i], compute_type_info(static_cast<ComputeType>(i)));
        return v;
      },
      "(name, how it runs on the current tier) for every compute type.");
  m.def("_set_vnni", &set_vnni_enabled, py::arg("enabled"),
        "Tests: let the avx512 tier's int8 GEMM use AVX512_VNNI where the CPU has it (default), or not.");
  m.def("_set_amx", &set_amx_enabled, py::arg("enabled"),
        "Tests: let the avx512 tier's int8 GEMM use AMX tiles where the CPU and OS allow it (default), or not.");
  m.def("amx_available", &amx_available, "Whether int8 can use AMX-INT8 tiles here (avx512 tier, CPU and OS).");
  m.def("vnni_available", &vnni_available, "Whether int8 can use AVX512_VNNI on this CPU (avx512 tier).");
  m.def("num_threads", &num_threads);
  m.def("thread_placement", &thread_placement, "How the pool's worker threads are placed on CPUs, in words.");
  m.def("set_memory_limit", &set_tensor_memory_limit, py::arg("bytes"),
        "Largest intermediate tensor a model call may allocate, in bytes (<= 0: physical memory).");
  m.def("memory_limit", &tensor_memory_limit);
  m.def("release_memory", &AlignedBuffer::release_cached,
        "Frees the large blocks kept for reuse by later calls; returns the bytes freed.");
  m.def(
      "activation",
      [](Act act, py::array_t<float, py::array::c_style | py::array::forcecast> x) {
        if (x.ndim() != 2) throw std::invalid_argument("expected a 2-D array (rows, n)");
        const int64_t rows = x.shape(0), n = x.shape(1);
        // Row-wise sparsemax sorts in a second half of each row, so work in (rows, 2n).
        py::array_t<float> work({rows, 2 * n});
        float* w = work.mutable_data();
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t j = 0; j < n; ++j) w[r * 2 * n + j] = x.data()[r * n + j];
        {
          py::gil_scoped_release nogil;  // work is owned here and not visible to Python yet
          current_kernels().activation(act, w, rows, n, 2 * n);
        }
        py::array_t<float> out({rows, n});
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t j = 0; j < n; ++j) out.mutable_data()[r * n + j] = w[r * 2 * n + j];
        return out;
      },
      py::arg("act"), py::arg("x"), "Apply activation `act` row-wise with the current tier's kernels.");
}

}  // namespace pyrnn
