// Stylegan2FusedBiasAct: op registration, shape inference, argument checks and the CPU kernel.
//
// One op computes the forward pass (grad = 0) and the first (grad = 1) and second (grad = 2)
// derivatives; the Python gradient functions chain them like NVIDIA's fused_bias_act.
#define EIGEN_USE_THREADS
#if GOOGLE_CUDA
#define EIGEN_USE_GPU
#endif

#include <algorithm>
#include <string>

#include "fused_bias_act.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/framework/tensor.h"
#include "unsupported/Eigen/CXX11/Tensor"

namespace tf_stylegan2 {

using ::tensorflow::OpKernel;
using ::tensorflow::OpKernelConstruction;
using ::tensorflow::OpKernelContext;
using ::tensorflow::Tensor;
using ::tensorflow::errors::InvalidArgument;
using CPUDevice = Eigen::ThreadPoolDevice;

namespace {

constexpr const char* kActivationNames[kNumActivations] = {"linear", "relu",  "lrelu",    "tanh", "sigmoid",
                                                            "elu",    "selu", "softplus", "swish"};

// Applies the element function to `n` consecutive elements starting at `i0`; bias(j) gives the
// bias of element i0 + j.
template <typename T, int A, int G, typename Bias>
inline void RunSpan(int64_t i0, int64_t n, const T* x, Bias bias, const T* xref, const T* dy, T* y, T alpha, T gain,
                    T clamp) {
  for (int64_t j = 0; j < n; ++j) {
    const int64_t i = i0 + j;
    y[i] = FusedBiasActElement<T, A, G>(x[i], bias(j), G ? xref[i] : T(0), G == 2 ? dy[i] : T(0), alpha, gain, clamp);
  }
}

template <typename T, int A, int G>
struct CpuLauncher {
  static absl::Status Run(const CPUDevice& d, const FusedBiasActParams& p, const T* x, const T* b, const T* xref,
                          const T* dy, T* y) {
    const T alpha = p.alpha, gain = p.gain, clamp = p.clamp;
    // Rows of elements with one bias layout each: channels-last rows share b[0:size_b], other
    // layouts have one bias per row of step_b elements.
    const int64_t row_len = p.size_b == 0 ? 4096 : p.step_b == 1 ? p.size_b : p.step_b;
    const int64_t num_rows = (p.size_x + row_len - 1) / row_len;
    auto rows = [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t i0 = row * row_len, n = std::min(row_len, p.size_x - i0);
        if (p.size_b == 0) {
          RunSpan<T, A, G>(i0, n, x, [](int64_t) { return T(0); }, xref, dy, y, alpha, gain, clamp);
        } else if (p.step_b == 1) {
          RunSpan<T, A, G>(i0, n, x, [b](int64_t j) { return b[j]; }, xref, dy, y, alpha, gain, clamp);
        } else {
          const T bias = b[row % p.size_b];
          RunSpan<T, A, G>(i0, n, x, [bias](int64_t) { return bias; }, xref, dy, y, alpha, gain, clamp);
        }
      }
    };
    const bool transcendental = A >= kTanh;
    const double cycles = (transcendental ? 40.0 : 4.0) * (clamp >= 0 && G ? 2 : 1);
    const Eigen::TensorOpCost cost(row_len * sizeof(T) * (1 + (G > 0) + (G > 1)), row_len * sizeof(T), row_len * cycles);
    d.parallelFor(num_rows, cost, rows);
    return absl::OkStatus();
  }
};

::tensorflow::Status ShapeFn(::tensorflow::shape_inference::InferenceContext* c) {
  ::tensorflow::shape_inference::ShapeHandle b;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 1, &b));
  c->set_output(0, c->input(0));
  return ::tensorflow::OkStatus();
}

}  // namespace

template <typename T>
struct FusedBiasActFunctor<CPUDevice, T> {
  absl::Status operator()(const CPUDevice& d, const FusedBiasActParams& p, const T* x, const T* b, const T* xref,
                          const T* dy, T* y) {
    return DispatchActGrad<CpuLauncher, T>(p.act, p.grad, d, p, x, b, xref, dy, y);
  }
};

template <typename Device, typename T>
class FusedBiasActOp : public OpKernel {
 public:
  explicit FusedBiasActOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    std::string act;
    OP_REQUIRES_OK(ctx, ctx->GetAttr("act", &act));
    act_ = static_cast<int>(std::find(kActivationNames, kActivationNames + kNumActivations, act) - kActivationNames);
    OP_REQUIRES(ctx, act_ < kNumActivations, InvalidArgument("fused_bias_act: unknown activation ", act));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("grad", &grad_));
    OP_REQUIRES(ctx, grad_ >= 0 && grad_ <= 2, InvalidArgument("fused_bias_act: grad must be 0, 1 or 2, got ", grad_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("alpha", &alpha_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("gain", &gain_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("clamp", &clamp_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("axis", &axis_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& b = ctx->input(1);
    const Tensor& xref = ctx->input(2);
    const Tensor& dy = ctx->input(3);
    OP_REQUIRES(ctx, b.dims() == 1, InvalidArgument("fused_bias_act: b must be 1-D, got ", b.shape().DebugString()));
    const int axis = axis_ < 0 ? axis_ + x.dims() : axis_;
    FusedBiasActParams p;
    p.size_x = x.NumElements();
    p.size_b = b.NumElements();
    p.step_b = 1;
    if (p.size_b > 0) {
      OP_REQUIRES(ctx, axis >= 0 && axis < x.dims(),
                  InvalidArgument("fused_bias_act: axis ", axis_, " out of range for x of rank ", x.dims()));
      OP_REQUIRES(ctx, b.dim_size(0) == x.dim_size(axis),
                  InvalidArgument("fused_bias_act: b has ", b.dim_size(0), " entries, x.shape[", axis, "] = ",
                                  x.dim_size(axis)));
      for (int i = axis + 1; i < x.dims(); ++i) p.step_b *= x.dim_size(i);
    }
    OP_REQUIRES(ctx, grad_ == 0 || xref.shape() == x.shape(),
                InvalidArgument("fused_bias_act: xref must have x's shape ", x.shape().DebugString(), ", got ",
                                xref.shape().DebugString()));
    OP_REQUIRES(ctx, grad_ < 2 || dy.shape() == x.shape(),
                InvalidArgument("fused_bias_act: dy must have x's shape ", x.shape().DebugString(), ", got ",
                                dy.shape().DebugString()));
    p.act = act_;
    p.grad = grad_;
    p.alpha = alpha_;
    p.gain = gain_;
    p.clamp = clamp_;
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &y));
    if (p.size_x == 0) return;
    OP_REQUIRES_OK(ctx, FusedBiasActFunctor<Device, T>()(
                            ctx->eigen_device<Device>(), p, x.flat<T>().data(), p.size_b ? b.flat<T>().data() : nullptr,
                            grad_ ? xref.flat<T>().data() : nullptr, grad_ == 2 ? dy.flat<T>().data() : nullptr,
                            y->flat<T>().data()));
  }

 private:
  int act_, grad_, axis_;
  float alpha_, gain_, clamp_;
};

}  // namespace tf_stylegan2

REGISTER_OP("Stylegan2FusedBiasAct")
    .Input("x: T")
    .Input("b: T")
    .Input("xref: T")
    .Input("dy: T")
    .Output("y: T")
    .Attr("T: {float, double}")
    .Attr("act: {'linear', 'relu', 'lrelu', 'tanh', 'sigmoid', 'elu', 'selu', 'softplus', 'swish'}")
    .Attr("grad: int = 0")
    .Attr("alpha: float = 0.0")
    .Attr("gain: float = 1.0")
    .Attr("clamp: float = -1.0")
    .Attr("axis: int = -1")
    .SetShapeFn(tf_stylegan2::ShapeFn)
    .Doc(R"doc(
Bias, activation, gain and clamp in one pass, and their first/second derivatives.
x: any shape. b: [x.shape[axis]], or [0] for no bias. xref: x's shape when grad >= 1, else
unused (pass [0]). dy: x's shape when grad = 2, else unused. clamp < 0 disables the clamp.
axis: the axis of x that b runs along; negative counts from the end.
grad = 0: y = clip(act(x + b) * gain, +-clamp); grad = 1: y = x * act'(xref + b) * gain * mask;
grad = 2: y = x * dy * act''(xref + b) * gain * mask, mask = |act(xref + b) * gain| <= clamp.
)doc");

#define REGISTER_CPU(T) \
  REGISTER_KERNEL_BUILDER(Name("Stylegan2FusedBiasAct").Device(::tensorflow::DEVICE_CPU).TypeConstraint<T>("T"), \
                          tf_stylegan2::FusedBiasActOp<Eigen::ThreadPoolDevice, T>);
REGISTER_CPU(float);
REGISTER_CPU(double);
#undef REGISTER_CPU

#if GOOGLE_CUDA
#define REGISTER_GPU(T) \
  REGISTER_KERNEL_BUILDER(Name("Stylegan2FusedBiasAct").Device(::tensorflow::DEVICE_GPU).TypeConstraint<T>("T"), \
                          tf_stylegan2::FusedBiasActOp<Eigen::GpuDevice, T>);
REGISTER_GPU(float);
REGISTER_GPU(double);
#undef REGISTER_GPU
#endif  // GOOGLE_CUDA
