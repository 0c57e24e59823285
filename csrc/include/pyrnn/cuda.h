// The optional CUDA path (built with PYRNN_CUDA=ON): a recurrent layer whose weights
// live on a GPU. Plain C++ here; the CUDA code is in csrc/cuda/ and is compiled only
// into CUDA builds, which define PYRNN_WITH_CUDA.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "pyrnn/layer.h"

namespace pyrnn {

#ifdef PYRNN_WITH_CUDA
// Devices the CUDA runtime sees (0 without a driver or GPU; never throws).
int cuda_device_count();
// "CUDA runtime 13.0, driver 13.0: NVIDIA H100 80GB HBM3 (sm_90)" or why no device is usable.
std::string cuda_runtime_info();

// SimpleRNN / LSTM / GRU on one GPU, with the CPU layer's semantics (masks,
// go_backwards, initial states, return_sequences; outputs in processing order).
// Row-wise activations (softmax & co.) are refused at construction.
class CudaRecurrentLayer {
 public:
  CudaRecurrentLayer(const LayerOptions& opt, int64_t D, int64_t H, const float* kernel, const float* recurrent,
                     const float* bias, int64_t bias_rows, int device);
  ~CudaRecurrentLayer();
  CudaRecurrentLayer(const CudaRecurrentLayer&) = delete;
  CudaRecurrentLayer& operator=(const CudaRecurrentLayer&) = delete;

  int64_t input_size() const { return D_; }
  int64_t units() const { return H_; }
  int device() const { return device_; }
  const LayerOptions& options() const { return opt_; }

  // Host arrays in and out (copied to and from the device): the CPU layer's contract.
  void run_host(int64_t B, int64_t T, const float* x, const uint8_t* mask, const float* h0, const float* c0,
                const LayerOutputs& out);

 private:
  struct Impl;
  LayerOptions opt_;
  int64_t D_, H_;
  int device_;
  std::unique_ptr<Impl> impl_;
};
#endif

}  // namespace pyrnn
