// upfirdn2d: upsample (zero insertion), pad, FIR-filter (true convolution), downsample.
// NHWC layout; shared by the CPU kernel (upfirdn2d_op.cc) and the CUDA kernel (upfirdn2d_op_gpu.cu.cc).
#ifndef TF_STYLEGAN2_CUSTOM_OPS_UPFIRDN2D_H_
#define TF_STYLEGAN2_CUSTOM_OPS_UPFIRDN2D_H_

#include <cstdint>

#include "absl/status/status.h"

namespace Eigen {
struct GpuDevice;
}  // namespace Eigen

namespace tf_stylegan2 {

struct Upfirdn2dParams {
  int64_t batch, in_h, in_w, channels;  // x: [batch, in_h, in_w, channels]
  int64_t out_h, out_w;                 // y: [batch, out_h, out_w, channels]
  int64_t filter_h, filter_w;           // f: [filter_h, filter_w]
  int64_t upx, upy, downx, downy;
  int64_t padx0, padx1, pady0, pady1;   // in upsampled pixels; negative values crop
};

// Writes y = upfirdn2d(x, f) for all of y. x, f and y are device pointers on `Device`. A failed
// kernel launch is returned, not fatal.
template <typename Device, typename T>
struct Upfirdn2dFunctor {
  absl::Status operator()(const Device& d, const Upfirdn2dParams& p, const T* x, const T* f, T* y);
};

#if GOOGLE_CUDA
// Defined in the .cu.cc file for float and double.
template <typename T>
struct Upfirdn2dFunctor<Eigen::GpuDevice, T> {
  absl::Status operator()(const Eigen::GpuDevice& d, const Upfirdn2dParams& p, const T* x, const T* f, T* y);
};
#endif  // GOOGLE_CUDA

}  // namespace tf_stylegan2

#endif  // TF_STYLEGAN2_CUSTOM_OPS_UPFIRDN2D_H_
