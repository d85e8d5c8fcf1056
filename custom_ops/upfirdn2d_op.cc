// Stylegan2Upfirdn2d: op registration, shape inference, argument checks and the CPU kernel.
//
// y = downsample(conv(pad(upsample(x)), f)), NHWC, f applied as a true convolution (flipped),
// the semantics of NVIDIA's upfirdn_2d. The gradient (registered in Python) is the same op with
// up/down swapped, the filter flipped and adjusted pads.
#define EIGEN_USE_THREADS
#if GOOGLE_CUDA
#define EIGEN_USE_GPU
#endif

#include <algorithm>
#include <utility>
#include <vector>

#include "upfirdn2d.h"
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
using ::tensorflow::TensorShape;
using ::tensorflow::errors::InvalidArgument;
using ::tensorflow::shape_inference::DimensionHandle;
using ::tensorflow::shape_inference::InferenceContext;
using ::tensorflow::shape_inference::ShapeHandle;
using CPUDevice = Eigen::ThreadPoolDevice;

namespace {

// Output length along one axis, or a negative number when the filter is longer than the
// padded, upsampled input.
int64_t OutputSize(int64_t in, int64_t up, int64_t pad0, int64_t pad1, int64_t filter, int64_t down) {
  const int64_t padded = in * up + pad0 + pad1;
  return padded < filter ? -1 : (padded - filter) / down + 1;
}

struct Attrs {
  int upx, upy, downx, downy, padx0, padx1, pady0, pady1;
};

template <typename Context>
::tensorflow::Status GetAttrs(Context* c, Attrs* a) {
  for (auto [name, value] : {std::pair<const char*, int*>{"upx", &a->upx}, {"upy", &a->upy},
                             {"downx", &a->downx}, {"downy", &a->downy}, {"padx0", &a->padx0},
                             {"padx1", &a->padx1}, {"pady0", &a->pady0}, {"pady1", &a->pady1}}) {
    TF_RETURN_IF_ERROR(c->GetAttr(name, value));
  }
  // Keeps every index computation within int64 and every per-axis size within int32.
  for (int v : {a->padx0, a->padx1, a->pady0, a->pady1}) {
    if (v < -(1 << 24) || v > (1 << 24)) return InvalidArgument("upfirdn2d: pad ", v, " out of range ±2^24");
  }
  for (int v : {a->upx, a->upy, a->downx, a->downy}) {
    if (v > 4096) return InvalidArgument("upfirdn2d: up/down factor ", v, " > 4096");
  }
  return ::tensorflow::OkStatus();
}

::tensorflow::Status ShapeFn(InferenceContext* c) {
  ShapeHandle x, f;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 4, &x));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 2, &f));
  Attrs a;
  TF_RETURN_IF_ERROR(GetAttrs(c, &a));
  auto axis = [&](int x_dim, int f_dim, int up, int down, int pad0, int pad1, DimensionHandle* out) {
    DimensionHandle in = c->Dim(x, x_dim), fd = c->Dim(f, f_dim);
    if (!c->ValueKnown(in) || !c->ValueKnown(fd)) {
      *out = c->UnknownDim();
      return ::tensorflow::OkStatus();
    }
    const int64_t size = OutputSize(c->Value(in), up, pad0, pad1, c->Value(fd), down);
    if (size < 1) return InvalidArgument("upfirdn2d: filter larger than the padded, upsampled input");
    *out = c->MakeDim(size);
    return ::tensorflow::OkStatus();
  };
  DimensionHandle out_h, out_w;
  TF_RETURN_IF_ERROR(axis(1, 0, a.upy, a.downy, a.pady0, a.pady1, &out_h));
  TF_RETURN_IF_ERROR(axis(2, 1, a.upx, a.downx, a.padx0, a.padx1, &out_w));
  c->set_output(0, c->MakeShape({c->Dim(x, 0), out_h, out_w, c->Dim(x, 3)}));
  return ::tensorflow::OkStatus();
}

// The taps reaching each output position along one axis: for output o, entries
// [start[o], start[o+1]) of (input index, filter index).
struct Taps {
  std::vector<int64_t> start, input, filter;
};

Taps BuildTaps(int64_t in, int64_t out, int64_t up, int64_t down, int64_t pad0, int64_t filter) {
  Taps t;
  t.start.reserve(out + 1);
  for (int64_t o = 0; o < out; ++o) {
    t.start.push_back(static_cast<int64_t>(t.input.size()));
    for (int64_t k = 0; k < filter; ++k) {
      const int64_t v = o * down + k - pad0;  // position in the upsampled, unpadded input
      if (v < 0 || v >= in * up || v % up != 0) continue;
      t.input.push_back(v / up);
      t.filter.push_back(filter - 1 - k);  // true convolution: the filter is read flipped
    }
  }
  t.start.push_back(static_cast<int64_t>(t.input.size()));
  return t;
}

// y_row += (x_row convolved with one filter row), without resampling along W (upx = downx = 1):
// filter tap k adds w_k * (x_row shifted by k - padx0 pixels), a contiguous multiply-add. Where
// all taps reach, FW taps (a compile-time count; 0 = any) go in one pass over y_row.
template <int FW, typename T>
inline __attribute__((always_inline)) void AddFilterRowTaps(const Upfirdn2dParams& p, const T* x_row, const T* f_row,
                                                            T* y_row) {
  const int64_t C = p.channels, fw = p.filter_w;
  auto range = [&](int64_t k) {  // output pixels [lo, hi) that tap k reaches
    return std::pair<int64_t, int64_t>(std::max<int64_t>(0, p.padx0 - k), std::min(p.out_w, p.in_w + p.padx0 - k));
  };
  auto add_tap = [&](int64_t k, int64_t lo, int64_t hi) {
    const T w = f_row[fw - 1 - k];
    T* __restrict out = y_row + lo * C;
    const T* __restrict in = x_row + (lo + k - p.padx0) * C;
    for (int64_t e = 0; e < (hi - lo) * C; ++e) out[e] += w * in[e];
  };
  if (FW == 0) {
    for (int64_t k = 0; k < fw; ++k) add_tap(k, range(k).first, std::max(range(k).first, range(k).second));
    return;
  }
  const int64_t lo_all = range(0).first, hi_all = std::max(lo_all, range(FW - 1).second);
  for (int64_t k = 0; k < FW; ++k) {  // the borders, tap by tap
    auto [lo, hi] = range(k);
    add_tap(k, lo, std::min(hi, lo_all));
    add_tap(k, std::max(lo, hi_all), std::max(hi, hi_all));
  }
  T w[FW];
  const T* in[FW];
  for (int k = 0; k < FW; ++k) {
    w[k] = f_row[FW - 1 - k];
    in[k] = x_row + (lo_all + k - p.padx0) * C;
  }
  T* __restrict out = y_row + lo_all * C;
  for (int64_t e = 0; e < (hi_all - lo_all) * C; ++e) {
    T acc = out[e];
    for (int k = 0; k < FW; ++k) acc += w[k] * in[k][e];
    out[e] = acc;
  }
}

template <typename T>
inline __attribute__((always_inline)) void AddFilterRow(const Upfirdn2dParams& p, const T* x_row, const T* f_row,
                                                        T* y_row) {
  switch (p.filter_w) {
    case 2: return AddFilterRowTaps<2>(p, x_row, f_row, y_row);
    case 3: return AddFilterRowTaps<3>(p, x_row, f_row, y_row);
    case 4: return AddFilterRowTaps<4>(p, x_row, f_row, y_row);
    default: return AddFilterRowTaps<0>(p, x_row, f_row, y_row);
  }
}

// Output rows [begin, end) of y (row = n * out_h + oy). Each output row accumulates in place, one
// filter row at a time: with AddFilterRow when W is not resampled, else every output pixel adds
// w * (an input pixel's C channels) per tap. Contiguous loops that the compiler vectorises for
// the caller's instruction set; always inlined, so each caller below compiles them for its target.
template <typename T>
inline __attribute__((always_inline)) void Rows(const Upfirdn2dParams& p, const Taps& ty, const Taps& tx, const T* x,
                                                const T* f, T* y, int64_t begin, int64_t end) {
  const int64_t C = p.channels;
  for (int64_t row = begin; row < end; ++row) {
    const int64_t n = row / p.out_h, oy = row % p.out_h;
    T* y_row = y + row * p.out_w * C;
    std::fill(y_row, y_row + p.out_w * C, T(0));
    for (int64_t i = ty.start[oy]; i < ty.start[oy + 1]; ++i) {
      const T* x_row = x + (n * p.in_h + ty.input[i]) * p.in_w * C;
      const T* f_row = f + ty.filter[i] * p.filter_w;
      if (p.upx == 1 && p.downx == 1) {
        AddFilterRow(p, x_row, f_row, y_row);
        continue;
      }
      for (int64_t ox = 0; ox < p.out_w; ++ox) {
        T* __restrict out = y_row + ox * C;
        for (int64_t j = tx.start[ox]; j < tx.start[ox + 1]; ++j) {
          const T w = f_row[tx.filter[j]];
          const T* __restrict in = x_row + tx.input[j] * C;
          for (int64_t c = 0; c < C; ++c) out[c] += w * in[c];
        }
      }
    }
  }
}

template <typename T>
void RowsBaseline(const Upfirdn2dParams& p, const Taps& ty, const Taps& tx, const T* x, const T* f, T* y,
                  int64_t begin, int64_t end) {
  Rows(p, ty, tx, x, f, y, begin, end);
}

#if defined(__x86_64__) && defined(__GNUC__)
// The same loops with 256-bit vectors and fused multiply-adds, chosen at run time when the CPU
// has them (the library itself targets baseline x86-64).
template <typename T>
__attribute__((target("avx2,fma"))) void RowsAvx2(const Upfirdn2dParams& p, const Taps& ty, const Taps& tx,
                                                  const T* x, const T* f, T* y, int64_t begin, int64_t end) {
  Rows(p, ty, tx, x, f, y, begin, end);
}

bool CpuHasAvx2Fma() {
  static const bool has = (__builtin_cpu_init(), __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"));
  return has;
}
#endif

}  // namespace

template <typename T>
struct Upfirdn2dFunctor<CPUDevice, T> {
  absl::Status operator()(const CPUDevice& d, const Upfirdn2dParams& p, const T* x, const T* f, T* y) {
    const Taps ty = BuildTaps(p.in_h, p.out_h, p.upy, p.downy, p.pady0, p.filter_h);
    const Taps tx = BuildTaps(p.in_w, p.out_w, p.upx, p.downx, p.padx0, p.filter_w);
    auto rows = RowsBaseline<T>;
#if defined(__x86_64__) && defined(__GNUC__)
    if (CpuHasAvx2Fma()) rows = RowsAvx2<T>;
#endif
    const double taps_per_pixel = static_cast<double>(ty.input.size()) / std::max<int64_t>(p.out_h, 1) *
                                  tx.input.size() / std::max<int64_t>(p.out_w, 1);
    const double row_elems = static_cast<double>(p.out_w * p.channels);
    const Eigen::TensorOpCost cost(row_elems * taps_per_pixel * sizeof(T), row_elems * sizeof(T),
                                   row_elems * taps_per_pixel * 2);
    d.parallelFor(p.batch * p.out_h, cost,
                  [&](int64_t begin, int64_t end) { rows(p, ty, tx, x, f, y, begin, end); });
    return absl::OkStatus();
  }
};

template <typename Device, typename T>
class Upfirdn2dOp : public OpKernel {
 public:
  explicit Upfirdn2dOp(OpKernelConstruction* ctx) : OpKernel(ctx) { OP_REQUIRES_OK(ctx, GetAttrs(ctx, &attrs_)); }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& f = ctx->input(1);
    OP_REQUIRES(ctx, x.dims() == 4, InvalidArgument("upfirdn2d: x must be [N, H, W, C], got ", x.shape().DebugString()));
    OP_REQUIRES(ctx, f.dims() == 2 && f.dim_size(0) >= 1 && f.dim_size(1) >= 1,
                InvalidArgument("upfirdn2d: f must be a non-empty [fH, fW] filter, got ", f.shape().DebugString()));
    Upfirdn2dParams p;
    p.batch = x.dim_size(0);
    p.in_h = x.dim_size(1);
    p.in_w = x.dim_size(2);
    p.channels = x.dim_size(3);
    p.filter_h = f.dim_size(0);
    p.filter_w = f.dim_size(1);
    p.upx = attrs_.upx, p.upy = attrs_.upy, p.downx = attrs_.downx, p.downy = attrs_.downy;
    p.padx0 = attrs_.padx0, p.padx1 = attrs_.padx1, p.pady0 = attrs_.pady0, p.pady1 = attrs_.pady1;
    p.out_h = OutputSize(p.in_h, p.upy, p.pady0, p.pady1, p.filter_h, p.downy);
    p.out_w = OutputSize(p.in_w, p.upx, p.padx0, p.padx1, p.filter_w, p.downx);
    OP_REQUIRES(ctx, p.out_h >= 1 && p.out_w >= 1,
                InvalidArgument("upfirdn2d: filter ", f.shape().DebugString(), " larger than the padded, upsampled input ",
                                x.shape().DebugString()));
    OP_REQUIRES(ctx, p.in_h * p.upy <= (1 << 30) && p.in_w * p.upx <= (1 << 30),
                InvalidArgument("upfirdn2d: upsampled input too large"));
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({p.batch, p.out_h, p.out_w, p.channels}), &y));
    if (y->NumElements() == 0) return;
    OP_REQUIRES_OK(ctx, Upfirdn2dFunctor<Device, T>()(ctx->eigen_device<Device>(), p, x.flat<T>().data(),
                                                      f.flat<T>().data(), y->flat<T>().data()));
  }

 private:
  Attrs attrs_;
};

}  // namespace tf_stylegan2

REGISTER_OP("Stylegan2Upfirdn2d")
    .Input("x: T")
    .Input("f: T")
    .Output("y: T")
    .Attr("T: {float, double}")
    .Attr("upx: int >= 1")
    .Attr("upy: int >= 1")
    .Attr("downx: int >= 1")
    .Attr("downy: int >= 1")
    .Attr("padx0: int")
    .Attr("padx1: int")
    .Attr("pady0: int")
    .Attr("pady1: int")
    .SetShapeFn(tf_stylegan2::ShapeFn)
    .Doc(R"doc(
Upsample (insert up-1 zeros after each pixel), zero-pad (negative pads crop), convolve with f
(a true convolution, VALID) and keep every down-th pixel. NHWC.
x: [N, H, W, C].
f: [fH, fW] filter taps.
y: [N, (H*upy + pady0 + pady1 - fH) // downy + 1, (W*upx + padx0 + padx1 - fW) // downx + 1, C].
)doc");

#define REGISTER_CPU(T) \
  REGISTER_KERNEL_BUILDER(Name("Stylegan2Upfirdn2d").Device(::tensorflow::DEVICE_CPU).TypeConstraint<T>("T"), \
                          tf_stylegan2::Upfirdn2dOp<Eigen::ThreadPoolDevice, T>);
REGISTER_CPU(float);
REGISTER_CPU(double);
#undef REGISTER_CPU

#if GOOGLE_CUDA
#define REGISTER_GPU(T) \
  REGISTER_KERNEL_BUILDER(Name("Stylegan2Upfirdn2d").Device(::tensorflow::DEVICE_GPU).TypeConstraint<T>("T"), \
                          tf_stylegan2::Upfirdn2dOp<Eigen::GpuDevice, T>);
REGISTER_GPU(float);
REGISTER_GPU(double);
#undef REGISTER_GPU
#endif  // GOOGLE_CUDA
