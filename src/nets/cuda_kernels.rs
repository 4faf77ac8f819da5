//! The StyleGAN2 generator's per-layer epilogue as one CUDA kernel, compiled at run time with
//! NVRTC and launched through the CUDA driver on the stream libtorch uses.
//!
//! Why a kernel of our own: after each modulated convolution the generator demodulates, adds
//! noise and bias, applies the leaky ReLU, styles the result for the next layer and (every
//! second layer) projects it to RGB and adds the up-sampled skip image. As libtorch operators
//! that is five to seven passes over the largest activations (64 MB a frame at 1024² in fp16);
//! fused it is one read and one write. libtorch's C++ API as tch exposes it has no fuser, so the
//! kernel is written here (from the StyleGAN2 paper's definitions) and compiled with NVRTC, which
//! ships with every CUDA build of PyTorch. cudarc is the loader and launcher.
//!
//! Finding NVRTC, compiling, loading a module on libtorch's context and the element access
//! helpers live here too, for StyleGAN3's kernel (`filtered_lrelu_kernel`) as well.

use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream, DeviceRepr, LaunchConfig};
use cudarc::nvrtc::CompileOptions;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, thiserror::Error)]
pub enum KernelError {
    #[error(
        "NVRTC (libnvrtc, the CUDA run-time compiler) was not found; set LIFELAPSE_NVRTC_LIB \
         to its path (tried: {0})"
    )]
    NoNvrtc(String),
    #[error("the generator's CUDA kernels did not compile")]
    Compile(#[source] cudarc::nvrtc::CompileError),
    #[error("a CUDA driver call failed")]
    Driver(#[source] cudarc::driver::DriverError),
    #[error("the fused kernels produced no image")]
    NoImage,
    #[error("kernels run on a CUDA device, not {0:?}")]
    NotCuda(Device),
    #[error("the kernel does not take this layer: {0}")]
    Shape(String),
    #[error("the kernel's {0} disagrees with the operators by {1} (allowed {2})")]
    SelfCheck(String, f64, f64),
}

/// Element access shared by the generators' kernels: `T` is the activations' element type (float
/// or IEEE half as raw bits, converted with PTX instructions so that no CUDA header is needed).
/// Outside NVRTC (the tests compile kernels for the CPU to check their arithmetic) the
/// conversions use the host compiler's `_Float16`.
pub const ELEMENT_ACCESS: &str = r#"
typedef unsigned short half_bits;

#ifdef __CUDACC__
__device__ __forceinline__ float to_float(half_bits h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}
__device__ __forceinline__ half_bits to_half(float f) {
    half_bits h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}
#else
__device__ __forceinline__ float to_float(half_bits h) {
    _Float16 f;
    __builtin_memcpy(&f, &h, 2);
    return (float)f;
}
__device__ __forceinline__ half_bits to_half(float f) {
    _Float16 v = (_Float16)f;
    half_bits h;
    __builtin_memcpy(&h, &v, 2);
    return h;
}
#endif
__device__ __forceinline__ float load(const float* p, long long i) { return p[i]; }
__device__ __forceinline__ float load(const half_bits* p, long long i) { return to_float(p[i]); }
__device__ __forceinline__ void store(float* p, long long i, float v) { p[i] = v; }
__device__ __forceinline__ void store(half_bits* p, long long i, float v) { p[i] = to_half(v); }
"#;

/// The StyleGAN2 epilogue kernels (after [`ELEMENT_ACCESS`]).
pub const SOURCE: &str = r#"

// Four consecutive elements in one access (the caller guarantees the alignment).
struct alignas(16) Float4 { float a, b, c, d; };
struct alignas(8) Half4 { unsigned int lo, hi; };
__device__ __forceinline__ void load4(const float* p, float* v) {
    Float4 f = *(const Float4*)p;
    v[0] = f.a; v[1] = f.b; v[2] = f.c; v[3] = f.d;
}
__device__ __forceinline__ void load4(const half_bits* p, float* v) {
    Half4 h = *(const Half4*)p;
    v[0] = to_float((half_bits)(h.lo & 0xffff)); v[1] = to_float((half_bits)(h.lo >> 16));
    v[2] = to_float((half_bits)(h.hi & 0xffff)); v[3] = to_float((half_bits)(h.hi >> 16));
}
__device__ __forceinline__ void store4(float* p, const float* v) {
    Float4 f = {v[0], v[1], v[2], v[3]};
    *(Float4*)p = f;
}
__device__ __forceinline__ void store4(half_bits* p, const float* v) {
    Half4 h;
    h.lo = (unsigned int)to_half(v[0]) | ((unsigned int)to_half(v[1]) << 16);
    h.hi = (unsigned int)to_half(v[2]) | ((unsigned int)to_half(v[3]) << 16);
    *(Half4*)p = h;
}

// Every field is 8 bytes, so the layout matches the Rust struct without padding rules.
struct Epilogue {
    const void* src;                    // convolution output, strides in elements
    long long s_n, s_c, s_h, s_w;
    long long n, c, h, w;               // output shape; w is a multiple of 4
    const float* dgain;                 // [N, C]: sqrt(2) x demodulation factor
    const float* noise;                 // [H, W]: sqrt(2) x noise strength x fixed noise
    const float* bias;                  // [C]: sqrt(2) x bias
    const float* next_style;            // [N, C] or null: the next layer's styles
    void* dst;                          // styled output for the next layer
    long long d_n, d_c, d_h, d_w;
    const float* rgb_w;                 // [N, 3, C] or null: to-RGB weights x styles
    const float* rgb_bias;              // [3]
    const void* skip;                   // [N, 3, H/2, W/2] contiguous or null
    void* rgb;                          // [N, 3, H, W] contiguous
    long long vector_src;               // src rows may be read four elements at a time
    long long vector_dst;               // dst rows may be written four elements at a time
};

// The [1, 3, 3, 1] low-pass filter, normalised to sum 2 in one dimension (4 in two: the gain of
// up-sampling by 2).
__constant__ float TAP[4] = {0.25f, 0.75f, 0.75f, 0.25f};

// Bilinear-like taps of 2x up-sampling with the same filter and zero padding: output y reads
// input y/2 (weight 0.75) and its neighbour on y's side (weight 0.25).
__device__ __forceinline__ void up_taps(long long y, long long size, long long* at, float* wt) {
    long long m = y >> 1;
    long long other = (y & 1) ? m + 1 : m - 1;
    at[0] = m;
    wt[0] = 0.75f;
    bool inside = other >= 0 && other < size;
    at[1] = inside ? other : m;
    wt[1] = inside ? 0.25f : 0.0f;
}

// One thread computes four horizontally adjacent output pixels over all channels: rows are
// read and written four elements at a time, and the blur's taps are shared between the four.
#define RUN 4
// The to-RGB output of four adjacent pixels: the summed projections r, the bias and the
// up-sampled skip image.
template <typename T>
__device__ void write_rgb(const Epilogue& p, long long b, long long y, long long x0,
                          const float (&r)[3][RUN]) {
    const T* skip = (const T*)p.skip;
    const long long sh = p.h / 2, sw = p.w / 2;
    long long ay[2];
    float wy[2];
    up_taps(y, sh, ay, wy);
    T* rgb = (T*)p.rgb;
    for (int o = 0; o < 3; ++o) {
        float out[RUN];
#pragma unroll
        for (int k = 0; k < RUN; ++k) {
            out[k] = r[o][k] + p.rgb_bias[o];
            if (skip) {
                const T* plane = skip + (b * 3 + o) * sh * sw;
                long long ax[2];
                float wx[2];
                up_taps(x0 + k, sw, ax, wx);
                for (int j = 0; j < 2; ++j)
                    for (int m = 0; m < 2; ++m)
                        out[k] += wy[j] * wx[m] * load(plane, ay[j] * sw + ax[m]);
            }
        }
        store4(rgb + ((b * 3 + o) * p.h + y) * p.w + x0, out);
    }
}

template <typename T, bool UP>
__device__ void epilogue(const Epilogue& p) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long runs = p.w / RUN;
    if (i >= p.n * p.h * runs) return;
    const long long x0 = (i % runs) * RUN;
    const long long y = (i / runs) % p.h;
    const long long b = i / (runs * p.h);
    const T* src = (const T*)p.src;
    T* dst = (T*)p.dst;
    const bool to_rgb = p.rgb != 0;
    float noise[RUN];
    float r[3][RUN];
#pragma unroll
    for (int k = 0; k < RUN; ++k) {
        noise[k] = p.noise[y * p.w + x0 + k];
        r[0][k] = r[1][k] = r[2][k] = 0.0f;
    }
    for (long long c = 0; c < p.c; ++c) {
        const T* plane = src + b * p.s_n + c * p.s_c;
        float v[RUN];
        if (UP) {
            // The transposed convolution's output is one pixel larger than ours; the blur is
            // padded by one on each side. Output x0 + k reads columns x0 + k - 1 ... x0 + k + 2.
#pragma unroll
            for (int k = 0; k < RUN; ++k) v[k] = 0.0f;
#pragma unroll
            for (int dy = 0; dy < 4; ++dy) {
                long long yy = y + dy - 1;
                if (yy < 0 || yy > p.h) continue;
                float row[RUN + 3];
#pragma unroll
                for (int k = 0; k < RUN + 3; ++k) {
                    long long xx = x0 + k - 1;
                    row[k] = (xx >= 0 && xx <= p.w) ? load(plane, yy * p.s_h + xx * p.s_w) : 0.0f;
                }
#pragma unroll
                for (int k = 0; k < RUN; ++k) {
                    v[k] += TAP[dy] * (TAP[0] * row[k] + TAP[1] * row[k + 1] +
                                       TAP[2] * row[k + 2] + TAP[3] * row[k + 3]);
                }
            }
        } else if (p.vector_src) {
            load4(plane + y * p.s_h + x0, v);
        } else {
#pragma unroll
            for (int k = 0; k < RUN; ++k) v[k] = load(plane, y * p.s_h + (x0 + k) * p.s_w);
        }
        const long long nc = b * p.c + c;
        const float gain = p.dgain[nc], bias = p.bias[c];
        float a[RUN];
#pragma unroll
        for (int k = 0; k < RUN; ++k) {
            float t = v[k] * gain + noise[k] + bias;
            a[k] = t > 0.0f ? t : 0.2f * t;
        }
        if (p.next_style) {
            const float s = p.next_style[nc];
            float styled[RUN];
#pragma unroll
            for (int k = 0; k < RUN; ++k) styled[k] = a[k] * s;
            T* row = dst + b * p.d_n + c * p.d_c + y * p.d_h;
            if (p.vector_dst) {
                store4(row + x0, styled);
            } else {
#pragma unroll
                for (int k = 0; k < RUN; ++k) store(row, (x0 + k) * p.d_w, styled[k]);
            }
        }
        if (to_rgb) {
            const float* wr = p.rgb_w + b * 3 * p.c + c;
            const float w0 = wr[0], w1 = wr[p.c], w2 = wr[2 * p.c];
#pragma unroll
            for (int k = 0; k < RUN; ++k) {
                r[0][k] += w0 * a[k];
                r[1][k] += w1 * a[k];
                r[2][k] += w2 * a[k];
            }
        }
    }
    if (!to_rgb) return;
    write_rgb<T>(p, b, y, x0, r);
}

// 16 bytes of channels at once: 4 floats or 8 halves.
struct alignas(16) Bytes16 { unsigned int a, b, c, d; };
__device__ __forceinline__ void load16(const float* p, float* v) { load4(p, v); }
__device__ __forceinline__ void load16(const half_bits* p, float* v) {
    Bytes16 u = *(const Bytes16*)p;
    unsigned int w[4] = {u.a, u.b, u.c, u.d};
#pragma unroll
    for (int j = 0; j < 4; ++j) {
        v[2 * j] = to_float((half_bits)(w[j] & 0xffff));
        v[2 * j + 1] = to_float((half_bits)(w[j] >> 16));
    }
}
__device__ __forceinline__ void store16(float* p, const float* v) { store4(p, v); }
__device__ __forceinline__ void store16(half_bits* p, const float* v) {
    unsigned int w[4];
#pragma unroll
    for (int j = 0; j < 4; ++j)
        w[j] = (unsigned int)to_half(v[2 * j]) | ((unsigned int)to_half(v[2 * j + 1]) << 16);
    Bytes16 u = {w[0], w[1], w[2], w[3]};
    *(Bytes16*)p = u;
}

// The same epilogue for channels-last (NHWC) activations, where a pixel's channels are adjacent:
// a group of up to 32 threads shares four adjacent pixels, each thread taking 16-byte chunks of
// channels, so that every access is a whole, aligned 16 bytes. The to-RGB sums are added up
// across the group with warp shuffles. Needs C a multiple of the chunk and 16-byte alignment.
template <typename T, bool UP>
__device__ void epilogue_nhwc(const Epilogue& p) {
    const int CH = 16 / sizeof(T);
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long chunks = p.c / CH;
    const int group = chunks < 32 ? (int)chunks : 32;
    const int lane = (int)(i % group);
    const long long run = i / group;
    const long long runs = p.w / RUN;
    // Threads past the end still take part in the shuffles below.
    const bool valid = run < p.n * p.h * runs;
    const long long x0 = (run % runs) * RUN;
    const long long y = (run / runs) % p.h;
    const long long b = run / (runs * p.h);
    const T* src = (const T*)p.src;
    T* dst = (T*)p.dst;
    const bool to_rgb = p.rgb != 0;
    float r[3][RUN];
    float noise[RUN];
#pragma unroll
    for (int k = 0; k < RUN; ++k) {
        r[0][k] = r[1][k] = r[2][k] = 0.0f;
        noise[k] = valid ? p.noise[y * p.w + x0 + k] : 0.0f;
    }
    for (long long chunk = lane; valid && chunk < chunks; chunk += group) {
        const long long c0 = chunk * CH;
        const T* base = src + b * p.s_n + c0;
        float v[RUN][CH];
        if (UP) {
#pragma unroll
            for (int k = 0; k < RUN; ++k)
#pragma unroll
                for (int e = 0; e < CH; ++e) v[k][e] = 0.0f;
#pragma unroll
            for (int dy = 0; dy < 4; ++dy) {
                long long yy = y + dy - 1;
                if (yy < 0 || yy > p.h) continue;
#pragma unroll
                for (int kx = 0; kx < RUN + 3; ++kx) {
                    long long xx = x0 + kx - 1;
                    if (xx < 0 || xx > p.w) continue;
                    float t[CH];
                    load16(base + yy * p.s_h + xx * p.s_w, t);
#pragma unroll
                    for (int k = 0; k < RUN; ++k) {
                        const int dx = kx - k;
                        if (dx < 0 || dx > 3) continue;
                        const float tap = TAP[dy] * TAP[dx];
#pragma unroll
                        for (int e = 0; e < CH; ++e) v[k][e] += tap * t[e];
                    }
                }
            }
        } else {
#pragma unroll
            for (int k = 0; k < RUN; ++k) load16(base + y * p.s_h + (x0 + k) * p.s_w, v[k]);
        }
#pragma unroll
        for (int e = 0; e < CH; ++e) {
            const long long c = c0 + e;
            const long long nc = b * p.c + c;
            const float gain = p.dgain[nc], bias = p.bias[c];
            const float s = p.next_style ? p.next_style[nc] : 0.0f;
            float w0 = 0.0f, w1 = 0.0f, w2 = 0.0f;
            if (to_rgb) {
                const float* wr = p.rgb_w + b * 3 * p.c + c;
                w0 = wr[0];
                w1 = wr[p.c];
                w2 = wr[2 * p.c];
            }
#pragma unroll
            for (int k = 0; k < RUN; ++k) {
                float t = v[k][e] * gain + noise[k] + bias;
                float a = t > 0.0f ? t : 0.2f * t;
                r[0][k] += w0 * a;
                r[1][k] += w1 * a;
                r[2][k] += w2 * a;
                v[k][e] = a * s;
            }
        }
        if (p.next_style) {
#pragma unroll
            for (int k = 0; k < RUN; ++k)
                store16(dst + b * p.d_n + y * p.d_h + (x0 + k) * p.d_w + c0, v[k]);
        }
    }
    if (!to_rgb) return;
    for (int offset = group / 2; offset > 0; offset >>= 1) {
#pragma unroll
        for (int k = 0; k < RUN; ++k) {
            r[0][k] += __shfl_xor_sync(0xffffffffu, r[0][k], offset);
            r[1][k] += __shfl_xor_sync(0xffffffffu, r[1][k], offset);
            r[2][k] += __shfl_xor_sync(0xffffffffu, r[2][k], offset);
        }
    }
    if (!valid || lane != 0) return;
    write_rgb<T>(p, b, y, x0, r);
}

extern "C" __global__ void epilogue_nhwc_f32(Epilogue p) { epilogue_nhwc<float, false>(p); }
extern "C" __global__ void epilogue_nhwc_up_f32(Epilogue p) { epilogue_nhwc<float, true>(p); }
extern "C" __global__ void epilogue_nhwc_f16(Epilogue p) { epilogue_nhwc<half_bits, false>(p); }
extern "C" __global__ void epilogue_nhwc_up_f16(Epilogue p) { epilogue_nhwc<half_bits, true>(p); }

extern "C" __global__ void epilogue_f32(Epilogue p) { epilogue<float, false>(p); }
extern "C" __global__ void epilogue_up_f32(Epilogue p) { epilogue<float, true>(p); }
extern "C" __global__ void epilogue_f16(Epilogue p) { epilogue<half_bits, false>(p); }
extern "C" __global__ void epilogue_up_f16(Epilogue p) { epilogue<half_bits, true>(p); }
"#;

/// The kernel's parameter block; field for field the `Epilogue` struct of [`SOURCE`].
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct EpilogueParams {
    src: u64,
    s_n: i64,
    s_c: i64,
    s_h: i64,
    s_w: i64,
    n: i64,
    c: i64,
    h: i64,
    w: i64,
    dgain: u64,
    noise: u64,
    bias: u64,
    next_style: u64,
    dst: u64,
    d_n: i64,
    d_c: i64,
    d_h: i64,
    d_w: i64,
    rgb_w: u64,
    rgb_bias: u64,
    skip: u64,
    rgb: u64,
    vector_src: i64,
    vector_dst: i64,
}

// SAFETY: plain 8-byte fields, laid out as the kernel's struct (checked by the compile test's
// size assertion and by the GPU parity runs).
unsafe impl DeviceRepr for EpilogueParams {}

/// Loads NVRTC once per process. Tried in order: `LIFELAPSE_NVRTC_LIB`, the usual library names
/// on the loader's path, and the NVRTC beside a loaded PyTorch (`…/site-packages/nvidia/cu13/lib`).
/// Loading it with global symbols first makes cudarc's own lookup by name find the same library.
fn load_nvrtc() -> Result<(), KernelError> {
    static LOADED: OnceLock<Result<(), KernelError>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
            let mut candidates: Vec<String> = Vec::new();
            if let Ok(path) = std::env::var("LIFELAPSE_NVRTC_LIB") {
                candidates.push(path);
            }
            candidates.extend(cudarc::get_lib_name_candidates("nvrtc"));
            candidates.extend(
                nvrtc_beside_torch()
                    .into_iter()
                    .map(|p| p.display().to_string()),
            );
            for candidate in &candidates {
                // SAFETY: NVRTC's initialisers have no side effects beyond its own state.
                if let Ok(lib) = unsafe { Library::open(Some(candidate), RTLD_NOW | RTLD_GLOBAL) } {
                    tracing::debug!("NVRTC loaded from {candidate}");
                    preload_builtins(candidate);
                    // Kept for the life of the process; cudarc holds its own handle to it.
                    std::mem::forget(lib);
                    return Ok(());
                }
            }
            Err(KernelError::NoNvrtc(candidates.join(", ")))
        })
        .clone()
}

/// NVRTC opens its companion `libnvrtc-builtins.so.*` by name when it compiles; where NVRTC
/// came from an explicit path, load the companion from the same folder so that name resolves.
fn preload_builtins(nvrtc: &str) {
    use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
    let Some(dir) = std::path::Path::new(nvrtc)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("libnvrtc-builtins.so") {
            // SAFETY: as for NVRTC itself.
            if let Ok(lib) = unsafe { Library::open(Some(entry.path()), RTLD_NOW | RTLD_GLOBAL) } {
                std::mem::forget(lib);
            }
        }
    }
}

/// Where a pip-installed PyTorch keeps NVRTC, found from the loaded `libtorch_cuda.so`.
fn nvrtc_beside_torch() -> Vec<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let Some(torch_lib) = maps
        .lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| path.ends_with("/libtorch_cuda.so"))
        .map(PathBuf::from)
    else {
        return Vec::new();
    };
    let Some(site_packages) = torch_lib
        .parent()
        .and_then(|d| d.parent())
        .and_then(|d| d.parent())
    else {
        return Vec::new();
    };
    vec![
        site_packages.join("nvidia/cu13/lib/libnvrtc.so.13"),
        site_packages.join("nvidia/cuda_nvrtc/lib/libnvrtc.so.12"),
    ]
}

/// Compiles [`SOURCE`] to PTX for a virtual architecture (the driver finishes it for the GPU).
pub fn compile(arch: &'static str) -> Result<String, KernelError> {
    compile_source(
        &format!("{ELEMENT_ACCESS}{SOURCE}"),
        "lifelapse_epilogue.cu",
        arch,
    )
}

/// Compiles one kernel source (named for NVRTC's messages) to PTX.
pub(super) fn compile_source(
    source: &str,
    name: &str,
    arch: &'static str,
) -> Result<String, KernelError> {
    load_nvrtc()?;
    let options = CompileOptions {
        arch: Some(arch),
        name: Some(name.into()),
        ..Default::default()
    };
    cudarc::nvrtc::compile_ptx_with_opts(source, options)
        .map(|ptx| ptx.to_src())
        .map_err(KernelError::Compile)
}

/// The oldest virtual architecture CUDA 13's NVRTC still targets; newer GPUs run its PTX.
pub(super) const PTX_ARCH: &str = "compute_75";
/// The first with fp16 products on the tensor cores in the `mma.m16n8k16` shape (Ampere).
pub(super) const MMA_PTX_ARCH: &str = "compute_80";

/// The GPU's compute capability, (major, minor).
pub(super) fn compute_capability(device: Device) -> Result<(i32, i32), KernelError> {
    let Device::Cuda(ordinal) = device else {
        return Err(KernelError::NotCuda(device));
    };
    CudaContext::new(ordinal)
        .and_then(|context| context.compute_capability())
        .map_err(KernelError::Driver)
}

/// PTX compiled once per process (or the reason it did not compile).
pub(super) type CompiledOnce = OnceLock<Result<String, KernelError>>;

/// Compiles a kernel source with `compile` once per process (kept in `ptx`) and loads it on
/// `device` (libtorch's primary context). Returns the module with the stream to launch on: the
/// legacy default stream, the one libtorch's operators run on unless told otherwise, so kernels
/// and operators stay in order.
pub(super) fn load_module(
    device: Device,
    ptx: &'static CompiledOnce,
    compile: fn(&'static str) -> Result<String, KernelError>,
) -> Result<(Arc<CudaStream>, Arc<CudaModule>), KernelError> {
    load_module_for(device, PTX_ARCH, ptx, compile)
}

/// [`load_module`] for a given virtual architecture (`ptx` keeps that architecture's PTX).
pub(super) fn load_module_for(
    device: Device,
    arch: &'static str,
    ptx: &'static CompiledOnce,
    compile: fn(&'static str) -> Result<String, KernelError>,
) -> Result<(Arc<CudaStream>, Arc<CudaModule>), KernelError> {
    let Device::Cuda(ordinal) = device else {
        return Err(KernelError::NotCuda(device));
    };
    let ptx = ptx.get_or_init(|| compile(arch)).clone()?;
    let context = CudaContext::new(ordinal).map_err(KernelError::Driver)?;
    let module = context
        .load_module(cudarc::nvrtc::Ptx::from_src(ptx))
        .map_err(KernelError::Driver)?;
    Ok((context.default_stream(), module))
}

/// A generator's kernels, where they are wanted and can run (a CUDA device, fp32 or fp16
/// activations): loaded by `load`, or `None` with the reason logged, and the generator runs
/// its operators instead.
pub(super) fn load_for_generator<K>(
    device: Device,
    kind: Kind,
    wanted: bool,
    load: impl FnOnce(Device) -> Result<K, KernelError>,
    generator: &str,
) -> Option<K> {
    if !(wanted && device.is_cuda() && matches!(kind, Kind::Float | Kind::Half)) {
        return None;
    }
    load(device)
        .map_err(|e| {
            tracing::warn!(
                error = %crate::chain::Chain(&e),
                "the {generator} generator runs without its fused kernels"
            );
        })
        .ok()
}

/// The compiled kernels, loaded on one GPU.
pub struct EpilogueKernels {
    stream: Arc<CudaStream>,
    plain: [CudaFunction; 2],
    up: [CudaFunction; 2],
    plain_nhwc: [CudaFunction; 2],
    up_nhwc: [CudaFunction; 2],
}

/// The tensors one epilogue reads. Auxiliary tensors are fp32 and contiguous.
pub struct EpilogueInput<'a> {
    /// The convolution's output [N, C, H, W]; for an up-sampling layer the transposed
    /// convolution's [N, C, H+1, W+1], blurred here.
    pub conv_out: &'a Tensor,
    pub upsampled: bool,
    /// [N, C]: √2 × demodulation.
    pub dgain: &'a Tensor,
    /// [H, W]: √2 × noise strength × noise.
    pub noise: &'a Tensor,
    /// [C]: √2 × bias.
    pub bias: &'a Tensor,
    /// [N, C]: the next layer's styles; without, no styled output is written.
    pub next_style: Option<&'a Tensor>,
    /// To-RGB weights × styles [N, 3, C], bias [3], previous RGB image [N, 3, H/2, W/2].
    pub rgb: Option<(&'a Tensor, &'a Tensor, Option<&'a Tensor>)>,
    /// Write the styled output in NHWC layout.
    pub channels_last: bool,
}

pub(super) fn ptr(t: &Tensor) -> u64 {
    t.data_ptr() as u64
}

/// Output pixels one thread computes (`RUN` in the kernel).
const RUN: i64 = 4;

/// Whether every run of four pixels of `t` is four adjacent, 4-element-aligned elements, so the
/// kernel may move them in one 8- or 16-byte access.
fn rows_of_four(t: &Tensor) -> bool {
    let stride = t.stride();
    let element = t.kind().elt_size_in_bytes() as u64;
    stride[3] == 1
        && stride[..3].iter().all(|s| s % RUN == 0)
        && ptr(t).is_multiple_of(RUN as u64 * element)
}

fn check_aux(t: &Tensor, shape: &[i64], device: Device) {
    assert!(
        t.kind() == Kind::Float && t.is_contiguous() && t.size() == shape && t.device() == device,
        "epilogue input {:?} {:?} on {:?}, expected fp32 {shape:?} contiguous on {device:?}",
        t.kind(),
        t.size(),
        t.device()
    );
}

impl EpilogueKernels {
    /// Compiles (once per process) and loads the kernels on `device`.
    pub fn new(device: Device) -> Result<Self, KernelError> {
        static PTX: CompiledOnce = OnceLock::new();
        let (stream, module) = load_module(device, &PTX, compile)?;
        let load = |name: &str| module.load_function(name).map_err(KernelError::Driver);
        Ok(Self {
            stream,
            plain: [load("epilogue_f32")?, load("epilogue_f16")?],
            up: [load("epilogue_up_f32")?, load("epilogue_up_f16")?],
            plain_nhwc: [load("epilogue_nhwc_f32")?, load("epilogue_nhwc_f16")?],
            up_nhwc: [load("epilogue_nhwc_up_f32")?, load("epilogue_nhwc_up_f16")?],
        })
    }

    /// Runs one epilogue; returns the styled activations for the next layer (when asked for)
    /// and the RGB image (when asked for).
    ///
    /// Panics on tensors of the wrong shape, kind or device: the generator builds them, and a
    /// mismatch would let the kernel read out of bounds.
    pub fn run(
        &self,
        input: &EpilogueInput,
    ) -> Result<(Option<Tensor>, Option<Tensor>), KernelError> {
        let out = input.conv_out;
        let device = out.device();
        let kind = out.kind();
        let half = match kind {
            Kind::Float => 0,
            Kind::Half => 1,
            other => panic!("epilogue for {other:?} activations"),
        };
        let size = out.size();
        let stride = out.stride();
        assert_eq!(size.len(), 4, "epilogue input must be [N, C, H, W]");
        let grow = i64::from(input.upsampled);
        let (n, c, h, w) = (size[0], size[1], size[2] - grow, size[3] - grow);
        assert!(
            w % RUN == 0,
            "epilogue width {w} is not a multiple of {RUN}"
        );
        check_aux(input.dgain, &[n, c], device);
        check_aux(input.noise, &[h, w], device);
        check_aux(input.bias, &[c], device);
        let options = (kind, device);
        let next = input.next_style.map(|style| {
            check_aux(style, &[n, c], device);
            if input.channels_last {
                Tensor::empty([n, h, w, c], options).permute([0, 3, 1, 2])
            } else {
                Tensor::empty([n, c, h, w], options)
            }
        });
        let rgb = input.rgb.map(|(weights, bias, skip)| {
            check_aux(weights, &[n, 3, c], device);
            check_aux(bias, &[3], device);
            if let Some(skip) = skip {
                assert!(
                    skip.kind() == kind
                        && skip.is_contiguous()
                        && skip.size() == [n, 3, h / 2, w / 2],
                    "skip image {:?} {:?}",
                    skip.kind(),
                    skip.size()
                );
            }
            Tensor::empty([n, 3, h, w], options)
        });
        let mut params = EpilogueParams {
            src: ptr(out),
            s_n: stride[0],
            s_c: stride[1],
            s_h: stride[2],
            s_w: stride[3],
            n,
            c,
            h,
            w,
            dgain: ptr(input.dgain),
            noise: ptr(input.noise),
            bias: ptr(input.bias),
            ..Default::default()
        };
        if let (Some(next), Some(style)) = (&next, input.next_style) {
            let d = next.stride();
            params.next_style = ptr(style);
            params.dst = ptr(next);
            (params.d_n, params.d_c, params.d_h, params.d_w) = (d[0], d[1], d[2], d[3]);
            params.vector_dst = i64::from(rows_of_four(next));
        }
        if let (Some(rgb), Some((weights, bias, skip))) = (&rgb, input.rgb) {
            params.rgb_w = ptr(weights);
            params.rgb_bias = ptr(bias);
            params.skip = skip.map_or(0, ptr);
            params.rgb = ptr(rgb);
        }
        params.vector_src = i64::from(!input.upsampled && rows_of_four(out));
        // Channels-last in and out: the kernel whose threads share pixels and split channels.
        let chunk = 16 / kind.elt_size_in_bytes() as i64;
        let nhwc = stride[1] == 1
            && c % chunk == 0
            && ptr(out).is_multiple_of(16)
            && stride.iter().all(|s| s % chunk == 0 || *s == 1)
            && next
                .as_ref()
                .is_none_or(|t| t.stride()[1] == 1 && ptr(t).is_multiple_of(16));
        let group = (c / chunk).min(32);
        let threads = n * h * (w / RUN) * if nhwc { group } else { 1 };
        const BLOCK: u32 = 256;
        let config = LaunchConfig {
            grid_dim: (((threads + BLOCK as i64 - 1) / BLOCK as i64) as u32, 1, 1),
            block_dim: (BLOCK, 1, 1),
            shared_mem_bytes: 0,
        };
        let function = match (input.upsampled, nhwc) {
            (true, false) => &self.up[half],
            (false, false) => &self.plain[half],
            (true, true) => &self.up_nhwc[half],
            (false, true) => &self.plain_nhwc[half],
        };
        let mut launch = self.stream.launch_builder(function);
        use cudarc::driver::PushKernelArg;
        launch.arg(&params);
        // SAFETY: every pointer is a live tensor of the checked shape, kind and device; the
        // tensors outlive the launch on this stream (libtorch's allocator reuses freed memory
        // in stream order), and the output tensors are fresh.
        unsafe { launch.launch(config) }.map_err(KernelError::Driver)?;
        Ok((next, rgb))
    }
}

/// ptxas (installed by `tools/setup.sh --test`, found through `LIFELAPSE_PTXAS`) assembling PTX
/// for sm_90, the H100's architecture, as the driver does when it loads a module there: what each
/// entry point needs. The tests check the kernels' resource claims with it on a machine without
/// a GPU.
#[cfg(test)]
pub(crate) mod assembler {
    /// One entry point's resources on sm_90.
    #[derive(Debug)]
    pub(crate) struct EntryUse {
        pub name: String,
        pub registers: u32,
        /// Bytes spilled to local memory and read back.
        pub spill_bytes: u32,
    }

    pub(crate) fn assemble_for_hopper(ptx: &str) -> Vec<EntryUse> {
        let ptxas = std::env::var("LIFELAPSE_PTXAS").unwrap_or_else(|_| "ptxas".into());
        let dir = tempfile::tempdir().expect("a temporary directory");
        let source = dir.path().join("kernels.ptx");
        std::fs::write(&source, ptx).expect("write the PTX");
        let output = std::process::Command::new(&ptxas)
            .args(["-arch=sm_90", "-v", "-o"])
            .arg(dir.path().join("kernels.cubin"))
            .arg(&source)
            .output()
            .unwrap_or_else(|e| panic!("{ptxas} (tools/setup.sh --test installs it) runs: {e}"));
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "ptxas assembles the PTX:\n{log}");
        let number_before = |line: &str, what: &str| -> u32 {
            let head = &line[..line
                .find(what)
                .unwrap_or_else(|| panic!("{what} in {line}"))];
            let word = head.split_whitespace().last().unwrap_or_default();
            word.parse()
                .unwrap_or_else(|_| panic!("a number before {what} in {line}"))
        };
        let mut entries: Vec<EntryUse> = Vec::new();
        for line in log.lines() {
            if let Some(rest) = line.split("Compiling entry function '").nth(1) {
                let name = rest.split('\'').next().unwrap_or_default().to_string();
                entries.push(EntryUse {
                    name,
                    registers: 0,
                    spill_bytes: 0,
                });
            } else if let Some(entry) = entries.last_mut() {
                if line.contains("bytes spill stores") {
                    entry.spill_bytes = number_before(line, " bytes spill stores")
                        + number_before(line, " bytes spill loads");
                } else if line.contains(" registers") {
                    entry.registers = number_before(line, " registers");
                }
            }
        }
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY_POINTS: [&str; 8] = [
        "epilogue_f32",
        "epilogue_up_f32",
        "epilogue_f16",
        "epilogue_up_f16",
        "epilogue_nhwc_f32",
        "epilogue_nhwc_up_f32",
        "epilogue_nhwc_f16",
        "epilogue_nhwc_up_f16",
    ];

    /// The epilogue kernels assemble for the H100 without spilling registers.
    #[test]
    fn the_kernels_assemble_for_hopper_without_spilling() {
        let ptx = compile(PTX_ARCH).expect("NVRTC compiles the epilogue kernels");
        let entries = assembler::assemble_for_hopper(&ptx);
        let mut names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        names.sort_unstable();
        let mut expected = ENTRY_POINTS;
        expected.sort_unstable();
        assert_eq!(names, expected);
        for entry in &entries {
            assert!(entry.registers > 0 && entry.spill_bytes == 0, "{entry:?}");
        }
    }

    /// The source compiles with NVRTC (installed by `tools/setup.sh --test`); the kernels
    /// themselves run only on a GPU, where `lifelapse bench stylegan` checks them against the
    /// operator route.
    #[test]
    fn the_kernels_compile_to_ptx() {
        let ptx = compile(PTX_ARCH).expect("NVRTC compiles the epilogue kernels");
        for name in ENTRY_POINTS {
            assert!(
                ptx.contains(&format!(".entry {name}(")),
                "{name} missing from the PTX"
            );
        }
        // 24 fields of 8 bytes: the parameter block the kernel declares.
        assert_eq!(std::mem::size_of::<EpilogueParams>(), 24 * 8);
        assert!(
            ptx.contains(".param .align 8 .b8 epilogue_f32_param_0[192]"),
            "{ptx}"
        );
    }

    /// A compile failure keeps NVRTC's own error (with its log) as the cause.
    #[test]
    fn a_compile_error_keeps_the_compilers_log() {
        let err = compile_source(
            "extern \"C\" __global__ void k() { undeclared(); }",
            "broken.cu",
            PTX_ARCH,
        )
        .expect_err("does not compile");
        assert!(matches!(err, KernelError::Compile(_)), "{err:?}");
        let chain = crate::chain::Chain(&err).to_string();
        assert!(chain.contains("undeclared"), "{chain}");
    }
}
