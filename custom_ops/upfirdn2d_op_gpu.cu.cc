// CUDA kernel of Stylegan2Upfirdn2d: one thread per output element, NHWC.
#if GOOGLE_CUDA
#define EIGEN_USE_GPU

#include "upfirdn2d.h"
#include "tensorflow/core/util/gpu_kernel_helper.h"

namespace tf_stylegan2 {
namespace {

template <typename T>
__global__ void Upfirdn2dKernel(const Upfirdn2dParams p, const T* __restrict__ x, const T* __restrict__ f,
                                T* __restrict__ y, int64_t total) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t c = i % p.channels;
    int64_t r = i / p.channels;
    const int64_t ox = r % p.out_w;
    r /= p.out_w;
    const int64_t oy = r % p.out_h;
    const int64_t n = r / p.out_h;
    T acc = T(0);
    for (int64_t ky = 0; ky < p.filter_h; ++ky) {
      const int64_t vy = oy * p.downy + ky - p.pady0;  // row in the upsampled, unpadded input
      if (vy < 0 || vy >= p.in_h * p.upy || vy % p.upy != 0) continue;
      const T* x_row = x + ((n * p.in_h + vy / p.upy) * p.in_w) * p.channels + c;
      const T* f_row = f + (p.filter_h - 1 - ky) * p.filter_w;  // true convolution: flipped taps
      for (int64_t kx = 0; kx < p.filter_w; ++kx) {
        const int64_t vx = ox * p.downx + kx - p.padx0;
        if (vx < 0 || vx >= p.in_w * p.upx || vx % p.upx != 0) continue;
        acc += f_row[p.filter_w - 1 - kx] * x_row[(vx / p.upx) * p.channels];
      }
    }
    y[i] = acc;
  }
}

}  // namespace

template <typename T>
absl::Status Upfirdn2dFunctor<Eigen::GpuDevice, T>::operator()(const Eigen::GpuDevice& d, const Upfirdn2dParams& p,
                                                               const T* x, const T* f, T* y) {
  const int64_t total = p.batch * p.out_h * p.out_w * p.channels;
  const auto config = ::tensorflow::GetGpuLaunchConfig(static_cast<int>(std::min<int64_t>(total, 1 << 30)), d);
  return ::tensorflow::GpuLaunchKernel(Upfirdn2dKernel<T>, config.block_count, config.thread_per_block, 0, d.stream(), p,
                                       x, f, y, total);
}

template struct Upfirdn2dFunctor<Eigen::GpuDevice, float>;
template struct Upfirdn2dFunctor<Eigen::GpuDevice, double>;

}  // namespace tf_stylegan2

#endif  // GOOGLE_CUDA
