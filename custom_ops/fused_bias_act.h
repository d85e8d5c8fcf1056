// fused_bias_act: y = clip(act(x + b) * gain, ±clamp) and its first and second derivatives.
// Shared by the CPU kernel (fused_bias_act_op.cc) and the CUDA kernel (fused_bias_act_op_gpu.cu.cc).
#ifndef TF_STYLEGAN2_CUSTOM_OPS_FUSED_BIAS_ACT_H_
#define TF_STYLEGAN2_CUSTOM_OPS_FUSED_BIAS_ACT_H_

#include <cmath>
#include <cstdint>

#include "absl/status/status.h"

#if defined(__CUDACC__)
#define TF_STYLEGAN2_HOST_DEVICE __host__ __device__
#else
#define TF_STYLEGAN2_HOST_DEVICE
#endif

namespace Eigen {
struct GpuDevice;
}  // namespace Eigen

namespace tf_stylegan2 {

enum Activation { kLinear, kRelu, kLrelu, kTanh, kSigmoid, kElu, kSelu, kSoftplus, kSwish, kNumActivations };

// Element layout: x viewed as [outer, size_b, step_b]; b[k] applies to the middle index k.
// grad = 0: y = clip(f(x + b) * gain, ±clamp)
// grad = 1: y = x * f'(xref + b) * gain * mask        (x: upstream gradient dL/dy)
// grad = 2: y = x * dy * f''(xref + b) * gain * mask  (x: upstream gradient of a grad-1 output,
//                                                       dy: that grad-1 op's x)
// mask = |f(xref + b) * gain| <= clamp (1 when clamp < 0), the gradient of the clip.
struct FusedBiasActParams {
  int64_t size_x;           // number of elements of x (and y, xref, dy)
  int64_t size_b, step_b;   // size_b = 0: no bias
  int act, grad;
  float alpha, gain, clamp;  // clamp < 0: no clamp
};

template <typename T>
TF_STYLEGAN2_HOST_DEVICE inline T Max0(T z) { return z > T(0) ? z : T(0); }

template <typename T>
TF_STYLEGAN2_HOST_DEVICE inline T Min0(T z) { return z < T(0) ? z : T(0); }

template <typename T, int A>
struct ActivationFn {
  // f(z), f'(z), f''(z); alpha is lrelu's slope.
  TF_STYLEGAN2_HOST_DEVICE static T Eval(T z, T alpha, int order) {
    using std::exp;
    using std::expm1;
    using std::log1p;
    using std::tanh;
    const T one = T(1), two = T(2);
    const T selu_scale = T(1.0507009873554804934193349852946);
    const T selu_alpha = T(1.6732632423543772848170429916717);
    switch (A) {
      case kLinear: return order == 0 ? z : order == 1 ? one : T(0);
      // Branch-free forms (max/min, 0/1 masks) so that the CPU loops vectorise.
      case kRelu: return order == 0 ? Max0(z) : order == 1 ? T(z > 0) : T(0);
      case kLrelu: return order == 0 ? Max0(z) + alpha * Min0(z) : order == 1 ? alpha + (one - alpha) * T(z > 0) : T(0);
      case kTanh: {
        const T t = tanh(z);
        return order == 0 ? t : order == 1 ? one - t * t : -two * t * (one - t * t);
      }
      case kSigmoid: {
        const T s = one / (one + exp(-z));
        return order == 0 ? s : order == 1 ? s * (one - s) : s * (one - s) * (one - two * s);
      }
      case kElu:
        if (z > 0) return order == 0 ? z : order == 1 ? one : T(0);
        return order == 0 ? expm1(z) : exp(z);
      case kSelu:
        if (z > 0) return order == 0 ? selu_scale * z : order == 1 ? selu_scale : T(0);
        return order == 0 ? selu_scale * selu_alpha * expm1(z) : selu_scale * selu_alpha * exp(z);
      case kSoftplus: {
        if (order == 0) return z > T(20) ? z : log1p(exp(z));
        const T s = one / (one + exp(-z));
        return order == 1 ? s : s * (one - s);
      }
      case kSwish: {
        const T s = one / (one + exp(-z));
        return order == 0 ? z * s : order == 1 ? s * (one + z * (one - s)) : s * (one - s) * (two + z * (one - two * s));
      }
    }
    return T(0);
  }
};

// The value of one element; x, xref and dy are that element's entries (unused ones ignored).
template <typename T, int A, int G>
TF_STYLEGAN2_HOST_DEVICE inline T FusedBiasActElement(T x, T b, T xref, T dy, T alpha, T gain, T clamp) {
  if (G == 0) {
    T y = ActivationFn<T, A>::Eval(x + b, alpha, 0) * gain;
    if (clamp >= 0) {
      y = y < -clamp ? -clamp : y;
      y = y > clamp ? clamp : y;
    }
    return y;
  }
  const T z = xref + b;
  T y = x * ActivationFn<T, A>::Eval(z, alpha, G) * gain;
  if (G == 2) y *= dy;
  if (clamp >= 0) {
    const T forward = ActivationFn<T, A>::Eval(z, alpha, 0) * gain;
    if (!(forward >= -clamp && forward <= clamp)) y = T(0);
  }
  return y;
}

// Returns Launcher<T, act, grad>::Run(args...) with act and grad as compile-time constants.
template <template <typename, int, int> class Launcher, typename T, int A, typename... Args>
absl::Status DispatchGrad(int grad, Args&&... args) {
  if (grad == 0) return Launcher<T, A, 0>::Run(args...);
  if (grad == 1) return Launcher<T, A, 1>::Run(args...);
  return Launcher<T, A, 2>::Run(args...);
}

template <template <typename, int, int> class Launcher, typename T, typename... Args>
absl::Status DispatchActGrad(int act, int grad, Args&&... args) {
  switch (act) {
    case kLinear: return DispatchGrad<Launcher, T, kLinear>(grad, args...);
    case kRelu: return DispatchGrad<Launcher, T, kRelu>(grad, args...);
    case kLrelu: return DispatchGrad<Launcher, T, kLrelu>(grad, args...);
    case kTanh: return DispatchGrad<Launcher, T, kTanh>(grad, args...);
    case kSigmoid: return DispatchGrad<Launcher, T, kSigmoid>(grad, args...);
    case kElu: return DispatchGrad<Launcher, T, kElu>(grad, args...);
    case kSelu: return DispatchGrad<Launcher, T, kSelu>(grad, args...);
    case kSoftplus: return DispatchGrad<Launcher, T, kSoftplus>(grad, args...);
    default: return DispatchGrad<Launcher, T, kSwish>(grad, args...);
  }
}

// Writes y for all size_x elements. Pointers are device pointers on `Device`; b is null when
// size_b = 0, xref null when grad = 0, dy null when grad < 2. A failed kernel launch is returned, not fatal.
template <typename Device, typename T>
struct FusedBiasActFunctor {
  absl::Status operator()(const Device& d, const FusedBiasActParams& p, const T* x, const T* b, const T* xref, const T* dy,
                          T* y);
};

#if GOOGLE_CUDA
// Defined in the .cu.cc file for float and double.
template <typename T>
struct FusedBiasActFunctor<Eigen::GpuDevice, T> {
  absl::Status operator()(const Eigen::GpuDevice& d, const FusedBiasActParams& p, const T* x, const T* b,
                          const T* xref, const T* dy, T* y);
};
#endif  // GOOGLE_CUDA

}  // namespace tf_stylegan2

#endif  // TF_STYLEGAN2_CUSTOM_OPS_FUSED_BIAS_ACT_H_
