// CUDA kernel of Stylegan2FusedBiasAct: one thread per element (grid-stride loop).
#if GOOGLE_CUDA
#define EIGEN_USE_GPU

#include "fused_bias_act.h"
#include "tensorflow/core/util/gpu_kernel_helper.h"

namespace tf_stylegan2 {
namespace {

template <typename T, int A, int G>
__global__ void FusedBiasActKernel(const FusedBiasActParams p, const T* __restrict__ x, const T* __restrict__ b,
                                   const T* __restrict__ xref, const T* __restrict__ dy, T* __restrict__ y) {
  const T alpha = p.alpha, gain = p.gain, clamp = p.clamp;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < p.size_x;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const T bias = p.size_b ? b[(i / p.step_b) % p.size_b] : T(0);
    y[i] = FusedBiasActElement<T, A, G>(x[i], bias, G ? xref[i] : T(0), G == 2 ? dy[i] : T(0), alpha, gain, clamp);
  }
}

template <typename T, int A, int G>
struct GpuLauncher {
  static absl::Status Run(const Eigen::GpuDevice& d, const FusedBiasActParams& p, const T* x, const T* b, const T* xref,
                          const T* dy, T* y) {
    const auto config = ::tensorflow::GetGpuLaunchConfig(static_cast<int>(std::min<int64_t>(p.size_x, 1 << 30)), d);
    return ::tensorflow::GpuLaunchKernel(FusedBiasActKernel<T, A, G>, config.block_count, config.thread_per_block, 0,
                                         d.stream(), p, x, b, xref, dy, y);
  }
};

}  // namespace

template <typename T>
absl::Status FusedBiasActFunctor<Eigen::GpuDevice, T>::operator()(const Eigen::GpuDevice& d, const FusedBiasActParams& p,
                                                                  const T* x, const T* b, const T* xref, const T* dy,
                                                                  T* y) {
  return DispatchActGrad<GpuLauncher, T>(p.act, p.grad, d, p, x, b, xref, dy, y);
}

template struct FusedBiasActFunctor<Eigen::GpuDevice, float>;
template struct FusedBiasActFunctor<Eigen::GpuDevice, double>;

}  // namespace tf_stylegan2

#endif  // GOOGLE_CUDA
