//! StyleGAN3's filtered leaky ReLU as one CUDA kernel, compiled at run time with NVRTC and
//! launched on the stream libtorch uses (the loader is the StyleGAN2 epilogue's, in
//! `cuda_kernels`).
//!
//! Why a kernel of our own: as operators, a layer's activation demodulates and biases its input,
//! up-samples it by 2 or 4 with a low-pass filter (a map 4–16 times the input's size), applies
//! the leaky ReLU with its gain and clamp, then filters and down-samples again — every step a
//! pass over the largest tensor of the layer, written to memory and read back. Here each block
//! takes one tile of one channel's output, reads the input it needs once, and keeps the
//! up-sampled and activated samples in shared memory: one read of the convolution's output,
//! one write of the layer's. The arithmetic is the definition's (written from the paper's
//! appendix and the filters' definitions): only the up-sampling taps that meet an input sample
//! (not the inserted zeros) are summed, and only the kept down-sampled outputs are computed.
//! On GPUs with fp16 tensor cores (sm_80 on), fp16 radial layers may run there instead
//! ([`FilterCores`]): every pass a product of the samples with bands of the filters.
//!
//! The tests compile the same source for the CPU (one thread per block, which the kernel's
//! phase structure allows: every phase reads only what an earlier one wrote, separated by
//! barriers; the tensor-core builds run a warp's 32 lanes in turn and multiply by PTX's
//! fragment layouts) and check it against the operator route; on a GPU `lifelapse bench
//! stylegan3` checks the compiled kernel against the operators at the published sizes.

use super::cuda_kernels::{self, KernelError, ELEMENT_ACCESS};
use super::stylegan3::Activation;
use cudarc::driver::{CudaFunction, CudaStream, DeviceRepr, LaunchConfig};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use tch::{Device, Kind, Tensor};

/// The kernel source (after [`ELEMENT_ACCESS`]).
pub const SOURCE: &str = r#"
// Every field but the last is 8 bytes, so the layout matches the Rust struct without padding
// rules; the last, an array of floats, ends the struct.
struct FilteredLrelu {
    const void* src;                    // convolution output, strides in elements
    long long s_n, s_c, s_h, s_w;
    long long n, c, h, w;
    const float* dgain;                 // [N, C] demodulation factors, or null
    const float* bias;                  // [C]
    const float* up_taps;               // up_count taps, correlation order, gain included
    const float* down_taps;             // down_count taps, or down_count² when radial
    long long up_count, down_count, radial;
    long long up, down, pad_x, pad_y;   // padding before the up-sampling filter (negative crops)
    double gain, slope, clamp;          // clamp < 0: none
    void* dst;                          // [N, C, out_h, out_w], contiguous
    long long out_h, out_w;
    long long tile_h, tile_w, tiles_x;  // output samples per block, tiles per row
    long long in_h, in_w;               // input samples a tile reads (an upper bound)
    const unsigned* mma_bands;          // the tensor-core builds' bands (KernelTaps), fp16 pairs
    // The down-sampling taps again, for the builds made for 12 of them (12 separable or 144
    // radial): parameters live in the constant bank, and the builds' unrolled loops index them
    // with constants, so a multiply-add takes its tap from there instead of from shared memory
    // (which the passes' sample reads already keep busy).
    float down_consts[144];
};

// The output tile's width in the builds for known sizes (KNOWN_TILE_W on the host).
constexpr int KNOWN_TILE_W = 32;

// Positions within one map are ints (plan() refuses maps too large for that): 32-bit division
// is several times cheaper than 64-bit on a GPU, and these run per sample.

// Division rounding up, for numerators of either sign and a positive divisor.
__device__ __forceinline__ int ceil_div(int a, int b) {
    return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

// The first tap, counted from the start of the zero-inserted signal at position m, that meets an
// input sample (a multiple of up).
__device__ __forceinline__ int first_tap(int m, int up) {
    int r = m % up;
    return r == 0 ? 0 : (r > 0 ? up - r : -r);
}

#ifdef __CUDACC__
#define UNROLL _Pragma("unroll")
#else
#define UNROLL
#endif

// Where a tile's samples sit in shared memory (plan() sizes the same layout). Shared memory
// serves a warp in one pass only when its threads meet 32 different banks (consecutive words);
// the strides are chosen for the way each pass walks its buffer:
// - the input and the x pass's output, walked down columns (a thread per row) by the blocked
//   x pass: rows an odd number of words apart;
// - the activated samples, read by the down-sampling at every down-th column (every 2·down-th
//   by the blocked radial pass, whose threads take two columns each): each row holds its
//   samples by phase (x % phases), each phase contiguous, so that neighbouring threads read
//   neighbouring words; rows one word past a multiple of 4 apart, so that the blocked radial
//   pass's four groups of eight threads (8 rows apart) meet different banks. In the builds for
//   known sizes (4 phases) the phases start 8 or 24 words past a multiple of 32 apart, so that
//   the y pass's warps, writing 32 neighbouring samples (8 to a phase), meet 32 banks too.
struct Layout {
    int in_row, rows_row, act_row, act_phase, phases;
    __device__ __forceinline__ int act_at(int y, int x) const {
        return y * act_row + (x % phases) * act_phase + x / phases;
    }
};

__device__ __forceinline__ Layout layout_for(int iw, int uw, int phases, bool known) {
    Layout l;
    l.in_row = iw | 1;
    l.rows_row = uw | 1;
    l.act_phase = (uw + phases - 1) / phases;
    if (known) l.act_phase += (24 - l.act_phase % 16) % 16;
    const int row = phases * l.act_phase;
    l.act_row = row + (5 - row % 4) % 4;
    l.phases = phases;
    return l;
}

// A down-sampling tap: a constant of the launch in the builds that know the filter's size
// (their loops are unrolled, so `i` is known at compile time), else read from shared memory.
template <int KD>
__device__ __forceinline__ float down_tap(const FilteredLrelu& p, const float* fd, int i) {
    if constexpr (KD > 0) {
        return p.down_consts[i];
    } else {
        return fd[i];
    }
}

// The radial pass for a known down-sampling factor and filter size: each thread computes a
// block of 2 × R outputs (two neighbouring columns, R rows). It walks down the KD + DOWN
// columns of activated samples the block reads, taking each sample from shared memory once and
// adding it, times the tap that joins them (a constant of the launch), to every output of the
// block it reaches: 4–5 multiply-adds per shared-memory read, where the plain loop does one per
// two reads (the pass is 2/3 of a radial layer's arithmetic). R = 4: a 16 × 32 tile is two
// warps' work.
template <typename T, int DOWN, int KD, int R>
__device__ __forceinline__ void radial_blocks(const FilteredLrelu& p, const float* act,
                                              const Layout& l, int uh, int th, int tw, int oy0,
                                              int ox0, T* dst) {
    constexpr int COLS = KD + DOWN, ROWS = (R - 1) * DOWN + KD, PHASES = 2 * DOWN;
    const int pairs = (tw + 1) / 2, groups = (th + R - 1) / R;
    for (int i = (int)threadIdx.x; i < pairs * groups; i += (int)blockDim.x) {
        const int ox = (i % pairs) * 2, oy = (i / pairs) * R;
        // Rows past the tile's samples belong to outputs that are not stored; read as zero.
        const int rows = uh - oy * DOWN;
        float acc[2][R];
        UNROLL
        for (int j = 0; j < R; ++j) acc[0][j] = acc[1][j] = 0.0f;
        UNROLL
        for (int c = 0; c < COLS; ++c) {
            // Column ox * DOWN + c of rows oy * DOWN on (ox * DOWN is a multiple of PHASES).
            const float* a = act + l.act_at(oy * DOWN, c) + ox * DOWN / PHASES;
            UNROLL
            for (int r = 0; r < ROWS; ++r) {
                const float v = r < rows ? a[r * l.act_row] : 0.0f;
                UNROLL
                for (int j = 0; j < R; ++j) {
                    const int ty = r - j * DOWN;
                    if (ty < 0 || ty >= KD) continue;
                    if (c < KD) acc[0][j] += down_tap<KD>(p, nullptr, ty * KD + c) * v;
                    if (c >= DOWN) acc[1][j] += down_tap<KD>(p, nullptr, ty * KD + c - DOWN) * v;
                }
            }
        }
        UNROLL
        for (int j = 0; j < R; ++j) {
            const int y = oy0 + oy + j;
            if (oy + j >= th || y >= p.out_h) continue;
            UNROLL
            for (int k = 0; k < 2; ++k) {
                if (ox + k < tw && ox0 + ox + k < p.out_w)
                    store(dst, y * p.out_w + ox0 + ox + k, acc[k][j]);
            }
        }
    }
}

// The tensor-core builds (fp16 activations, radial layers of the published sizes): every pass
// is a product of matrices on the tensor cores. mma.m16n8k16 multiplies fp16 operands and sums
// in fp32, 2,048 multiply-adds an instruction. A filter applied along one axis at a fixed
// resampling is such a product with a band of the filter (zero where a tap does not reach):
// most of the band's multiply-adds are wasted, and the tensor cores still do the useful ones
// several times faster than the CUDA cores.
// - Up-sampling along x (for 16 up-sampled columns, M, at once): the band U (16 × 16 input
//   columns, K) times 8 input rows (N): the result, transposed, holds for each lane the
//   values the y pass's operand needs in that lane, so it never leaves the registers.
// - Up-sampling along y: the band V (16 up-sampled rows × 16 input rows) times those values
//   (16 input rows × 8 columns); the leaky ReLU then applies in the registers and the
//   activated samples go to shared memory as fp16.
// - The radial 12 × 12 down-sampling, for each filter row i: the activated samples of rows
//   2·oy + i (the tile's 16 output rows, M) and columns 16c … 16c + 15 (K) times a band of
//   the filter row (K × 8 output columns, N). A 16-column chunk reaches two blocks of 8
//   outputs, so a warp takes two neighbouring blocks and reads each chunk once for both.
//
// The activated samples are stored as fp16 in two planes, even rows and odd rows, so that the
// 16 rows of a radial operand (2·oy + i for oy = 0 … 15) are consecutive rows of one plane; a
// row is 44 words (4 × odd), so the 8 rows a fragment load spans meet 8 different groups of 4
// banks, and the planes are 16 words past a multiple of 32 apart, so the y pass's stores (8
// consecutive rows, alternating planes) do too.
constexpr int MMA_ROWS = 24;                // a plane's rows: 48 up-sampled rows (3 blocks of 16)
constexpr int MMA_COLS = 80;                // 5 strips of 16 columns: the 74 a 32-wide tile reads
constexpr int MMA_STRIDE = 88;              // halves a row
constexpr int MMA_PLANE = 2144;             // halves a plane: MMA_ROWS rows, then 16 words
constexpr int MMA_ACT_WORDS = MMA_PLANE;    // both planes, two halves a word
// The bands are the same for every block of a layer, so the host builds them once from the
// taps, as fp16 pairs in the order the lanes read them (KernelTaps::new): first the radial
// filter's, B operands [row i][chunk offset 0 or 1][register][lane]; then the up-sampling
// filter's, A operands [phase][window shift 0 or 4][register][lane], where the phase is how far
// past a block's first up-sampled sample the first input sample lies and the shift how many
// input rows before that the operand's window starts (up-sampling by 4 needs both).
constexpr int MMA_B_WORDS = 12 * 2 * 2 * 32;
constexpr int MMA_A_WORDS = 4 * 32;
constexpr int MMA_BLOCKS_PER_WARP = 2;
// Threads a block (THREADS on the host; FILTERED_LRELU_BOUNDS says the same).
constexpr int BLOCK_THREADS = 256;
// The demodulated, biased input as fp16 for up-sampling by UP: MMA_IN_BLOCKS<UP> blocks of 8
// rows (the x pass's N) of MMA_IN_COLS<UP> samples, rows MMA_IN_STRIDE<UP> halves (4 × odd
// words) apart; MMA_IN_WORDS is the larger of the two builds' (MMA_SHARED_WORDS on the host).
template <int UP> constexpr int MMA_IN_COLS = 16 * 4 / UP + 16;
template <int UP> constexpr int MMA_IN_STRIDE = UP == 2 ? 56 : 40;
template <int UP> constexpr int MMA_IN_BLOCKS = 2 * 2 / UP + 2;
constexpr int MMA_IN_WORDS = 4 * 8 * 56 / 2;
static_assert(MMA_IN_COLS<2> <= MMA_IN_STRIDE<2> && MMA_IN_COLS<4> <= MMA_IN_STRIDE<4>, "");
static_assert(MMA_PLANE >= MMA_ROWS * MMA_STRIDE && MMA_PLANE / 2 % 32 == 16, "");

#ifdef __CUDACC__
// Each thread is one lane of its warp; the fragments below are that lane's registers.
constexpr int LANES = 1;
__device__ __forceinline__ int lane_of(int) { return (int)threadIdx.x & 31; }
// d += a × b over the warp: A 16 × 16 (row-major), B 16 × 8 (column-major), fp16 in, fp32 sums.
__device__ __forceinline__ void mma_16x8x16(float (*d)[4], const unsigned (*a)[4],
                                            const unsigned (*b)[2]) {
#if __CUDA_ARCH__ >= 800
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
        : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3])
        : "r"(a[0][0]), "r"(a[0][1]), "r"(a[0][2]), "r"(a[0][3]), "r"(b[0][0]), "r"(b[0][1]));
#else
    __trap();  // Tensor cores take fp16 from sm_80 on; no entry point uses them below that.
#endif
}
#else
// The CPU build runs a warp's 32 lanes in turn, each fragment an array over the lanes, and
// multiplies by the fragment layouts of PTX's mma.m16n8k16 (f16 operands, f32 sums): lane
// l = 4g + t holds A's rows g and g + 8 at columns 2t, 2t + 1 and 2t + 8, 2t + 9 (registers
// 0–3: row g, row g + 8, row g columns + 8, row g + 8 columns + 8), B's column g at rows 2t,
// 2t + 1 and 2t + 8, 2t + 9, and the sums' rows g and g + 8 at columns 2t, 2t + 1.
constexpr int LANES = 32;
inline int lane_of(int l) { return l; }
inline void mma_16x8x16(float (*d)[4], const unsigned (*a)[4], const unsigned (*b)[2]) {
    float am[16][16], bm[16][8];
    for (int l = 0; l < 32; ++l) {
        const int g = l >> 2, t = l & 3;
        for (int r = 0; r < 4; ++r)
            for (int h = 0; h < 2; ++h)
                am[g + (r & 1) * 8][2 * t + h + (r >> 1) * 8] =
                    to_float((half_bits)(a[l][r] >> (16 * h)));
        for (int r = 0; r < 2; ++r)
            for (int h = 0; h < 2; ++h)
                bm[2 * t + h + 8 * r][g] = to_float((half_bits)(b[l][r] >> (16 * h)));
    }
    for (int l = 0; l < 32; ++l) {
        const int g = l >> 2, t = l & 3;
        for (int r = 0; r < 2; ++r)
            for (int h = 0; h < 2; ++h) {
                float v = 0.0f;
                for (int k = 0; k < 16; ++k) v += am[g + 8 * r][k] * bm[k][2 * t + h];
                d[l][2 * r + h] += v;
            }
    }
}
#endif

// Two fp16 values as one register, the first in the low half.
__device__ __forceinline__ unsigned pack_halves(float lo, float hi) {
    return (unsigned)to_half(lo) | ((unsigned)to_half(hi) << 16);
}

// Where activated sample (y, x) of the tile sits among the fp16 planes.
__device__ __forceinline__ int mma_act_at(int y, int x) {
    return (y & 1) * MMA_PLANE + (y >> 1) * MMA_STRIDE + x;
}

// The radial pass on the tensor cores: warp w computes output blocks 2w and 2w + 1 (8 columns
// each, all 16 rows). (Summing even and odd filter rows apart, so that a block's instructions
// wait less on each other, spills past 64 registers in the builds with every pass here.)
__device__ __forceinline__ void radial_mma(const FilteredLrelu& p, const half_bits* act, int th,
                                           int tw, int oy0, int ox0, half_bits* dst) {
    const unsigned* bands = p.mma_bands;
    const int blocks = (tw + 7) / 8;
    const int warp = (int)threadIdx.x / 32, warps = ((int)blockDim.x + 31) / 32;
    const unsigned* words = (const unsigned*)act;
    for (int b0 = warp * MMA_BLOCKS_PER_WARP; b0 < blocks; b0 += warps * MMA_BLOCKS_PER_WARP) {
        float acc[MMA_BLOCKS_PER_WARP][LANES][4];
        UNROLL
        for (int b = 0; b < MMA_BLOCKS_PER_WARP; ++b)
            for (int l = 0; l < LANES; ++l)
                for (int r = 0; r < 4; ++r) acc[b][l][r] = 0.0f;
        UNROLL
        for (int i = 0; i < 12; ++i) {
            unsigned band[2][LANES][2];
            for (int l = 0; l < LANES; ++l)
                for (int rel = 0; rel < 2; ++rel)
                    for (int r = 0; r < 2; ++r)
                        band[rel][l][r] = bands[((i * 2 + rel) * 2 + r) * 32 + lane_of(l)];
            // Chunk b0 + c of rows 2·oy + i serves block b0 + c at offset 0 and block
            // b0 + c − 1 at offset 1.
            UNROLL
            for (int c = 0; c <= MMA_BLOCKS_PER_WARP; ++c) {
                unsigned a[LANES][4];
                for (int l = 0; l < LANES; ++l) {
                    // Row 2g + i, column 16(b0 + c) + 2t (mma_act_at's place, in words): the
                    // lane's part and the unrolled loop's constant apart.
                    const int g = lane_of(l) >> 2, t = lane_of(l) & 3;
                    const int lane_word = g * (MMA_STRIDE / 2) + t + 8 * b0;
                    const int word = (i & 1) * (MMA_PLANE / 2) + (i >> 1) * (MMA_STRIDE / 2) + 8 * c;
                    for (int r = 0; r < 4; ++r)
                        a[l][r] = words[lane_word + word + (r & 1) * 4 * MMA_STRIDE + (r >> 1) * 4];
                }
                if (c < MMA_BLOCKS_PER_WARP) mma_16x8x16(acc[c], a, band[0]);
                if (c > 0) mma_16x8x16(acc[c - 1], a, band[1]);
            }
        }
        UNROLL
        for (int b = 0; b < MMA_BLOCKS_PER_WARP; ++b)
            for (int l = 0; l < LANES; ++l) {
                const int g = lane_of(l) >> 2, t = lane_of(l) & 3;
                for (int r = 0; r < 4; ++r) {
                    const int oy = g + 8 * (r >> 1), ox = 8 * (b0 + b) + 2 * t + (r & 1);
                    if (oy < th && ox < tw && oy0 + oy < p.out_h && ox0 + ox < p.out_w)
                        store(dst, (oy0 + oy) * p.out_w + ox0 + ox, acc[b][l][r]);
                }
            }
    }
}

// The leaky ReLU with its gain, then the clamp (negative: none).
__device__ __forceinline__ float activate(float v, float slope, float gain, float clamp) {
    v = (v > 0.0f ? v : v * slope) * gain;
    return clamp >= 0.0f ? fminf(fmaxf(v, -clamp), clamp) : v;
}

// Up-sampling along one axis for a known factor and filter size: outputs o, o + UP, … of a line
// share their tap phase and read consecutive inputs, so each thread computes R of them from one
// window of inputs and one set of taps in registers (the plain loops read a tap and an input for
// every multiply-add). A warp's threads take consecutive lines: down columns for the x pass,
// along rows for the y pass. `load(line, i)` reads input i of a line, `store(line, o, v)`
// writes output o; m0 is the first output's position in the zero-inserted input, `origin`
// the first input read.
template <int UP, int KU, int R, typename Load, typename Store>
__device__ __forceinline__ void upsample_lines(const float* fu, int lines, int outputs,
                                               int inputs, int m0, int origin, Load load,
                                               Store store) {
    static_assert(KU % UP == 0, "every output meets KU / UP inputs");
    constexpr int KT = KU / UP;
    constexpr int WINDOW = R + KT - 1;
    const int groups = (outputs + R * UP - 1) / (R * UP);
    for (int i = (int)threadIdx.x; i < groups * UP * lines; i += (int)blockDim.x) {
        const int line = i % lines, phase = (i / lines) % UP, group = i / lines / UP;
        const int o = group * R * UP + phase;
        const int m = m0 + o;
        const int t = first_tap(m, UP);
        const int first = (m + t) / UP - origin;
        float f[KT], w[WINDOW];
        UNROLL
        for (int k = 0; k < KT; ++k) f[k] = fu[t + k * UP];
        // Inputs past the tile's belong to outputs past it; read as zero.
        UNROLL
        for (int k = 0; k < WINDOW; ++k) w[k] = first + k < inputs ? load(line, first + k) : 0.0f;
        UNROLL
        for (int j = 0; j < R; ++j) {
            float v = 0.0f;
            UNROLL
            for (int k = 0; k < KT; ++k) v += f[k] * w[j + k];
            if (o + j * UP < outputs) store(line, o + j * UP, v);
        }
    }
}

// UP, KU, DOWN and KD: the resampling factors and filter sizes when known at compile time (0:
// read from the parameters).
template <typename T, int UP, int KU, int DOWN, int KD>
__device__ void filtered_lrelu(const FilteredLrelu& p) {
    extern __shared__ float shared[];
    const int th = (int)p.tile_h, tw = (int)p.tile_w;
    const int up = UP ? UP : (int)p.up, down = DOWN ? DOWN : (int)p.down;
    const int ku = KU ? KU : (int)p.up_count, kd = KD ? KD : (int)p.down_count;
    const int kd_all = p.radial ? kd * kd : kd;
    // Up-sampled samples the tile needs, and the input behind them.
    const int uh = (th - 1) * down + kd, uw = (tw - 1) * down + kd;
    const int ih = (int)p.in_h, iw = (int)p.in_w;
    // The builds for known sizes lay their buffers out for a whole tile whatever this tile's
    // size (a tile at a map's edge leaves some unused): every stride is then a constant, and the
    // unrolled passes address shared memory as one register plus an immediate. (With strides
    // known only at run time the radial pass's 252 addresses spill out of the registers.) The
    // whole width also holds the columns that the last pair of an odd-width tile reads for its
    // unstored second column. Their radial pass reads every 2·down-th column (see Layout).
    constexpr bool KNOWN = KU > 0 && KD > 0;
    const int lw = KNOWN ? (KNOWN_TILE_W - 1) * DOWN + KD : uw;
    const int liw = KNOWN ? (lw + KU - 2) / UP + 1 : iw;
    const Layout l = layout_for(liw, lw, KNOWN ? 2 * down : down, KNOWN);
    float* fu = shared;                 // [ku]
    float* fd = fu + ku;                // [kd] or [kd][kd] (the general build)
    float* in = fd + kd_all;            // [ih][in_row]: demodulated, biased input
    float* rows = in + ih * l.in_row;   // [ih][rows_row]: up-sampled along x
    float* act = rows + ih * l.rows_row; // [uh][act_row]: up-sampled along both, activated
    float* cols = act + uh * l.act_row; // [uh][tw]: down-sampled along x (separable filter)

    const long long ch = blockIdx.y, b = blockIdx.z;
    const int tile = (int)blockIdx.x, tiles_x = (int)p.tiles_x;
    const int oy0 = (tile / tiles_x) * th, ox0 = (tile % tiles_x) * tw;
    // The tile's first up-sampled sample, and where that is in the zero-inserted input.
    const int my0 = oy0 * down - (int)p.pad_y, mx0 = ox0 * down - (int)p.pad_x;
    const int iy0 = ceil_div(my0, up), ix0 = ceil_div(mx0, up);
    const T* src = (const T*)p.src + b * p.s_n + ch * p.s_c;
    const float scale = p.dgain ? p.dgain[b * p.c + ch] : 1.0f;
    const float bias = p.bias[ch];
    const int threads = (int)blockDim.x, first = (int)threadIdx.x;

    // 1. The filters and the input the tile reads, demodulated and biased; zero outside the map
    //    (the padding is zeros after the bias, as in the definition).
    for (int i = first; i < ku; i += threads) fu[i] = p.up_taps[i];
    // The builds for known sizes take the down-sampling taps from the parameters instead.
    if constexpr (KD == 0) {
        for (int i = first; i < kd_all; i += threads) fd[i] = p.down_taps[i];
    }
    for (int i = first; i < ih * iw; i += threads) {
        int y = iy0 + i / iw, x = ix0 + i % iw;
        bool inside = y >= 0 && y < p.h && x >= 0 && x < p.w;
        in[(i / iw) * l.in_row + i % iw] =
            inside ? load(src, y * p.s_h + x * p.s_w) * scale + bias : 0.0f;
    }
    __syncthreads();

    // 2. Up-sampled along x: output kx sums taps t over input position (mx0 + kx + t) / up,
    //    stepping by up so that only taps meeting an input sample are visited.
    if constexpr (KU > 0) {
        upsample_lines<UP, KU, 8>(
            fu, ih, uw, iw, mx0, ix0,
            [&](int r, int x) { return in[r * l.in_row + x]; },
            [&](int r, int x, float v) { rows[r * l.rows_row + x] = v; });
    } else {
        for (int i = first; i < ih * uw; i += threads) {
            int r = i / uw, kx = i % uw;
            int m = mx0 + kx;
            int t = first_tap(m, up);
            const float* line = in + r * l.in_row + (m + t) / up - ix0;
            float v = 0.0f;
            for (int j = 0; t < ku; t += up, ++j) v += fu[t] * line[j];
            rows[r * l.rows_row + kx] = v;
        }
    }
    __syncthreads();

    // 3. Up-sampled along y, then the leaky ReLU, its gain and the clamp.
    const float gain = (float)p.gain, slope = (float)p.slope, clamp = (float)p.clamp;
    if constexpr (KU > 0) {
        upsample_lines<UP, KU, 8>(
            fu, uw, uh, ih, my0, iy0,
            [&](int x, int r) { return rows[r * l.rows_row + x]; },
            [&](int x, int y, float v) { act[l.act_at(y, x)] = activate(v, slope, gain, clamp); });
    } else {
        for (int i = first; i < uh * uw; i += threads) {
            int ky = i / uw, kx = i % uw;
            int m = my0 + ky;
            int t = first_tap(m, up);
            const float* column = rows + ((m + t) / up - iy0) * l.rows_row + kx;
            float v = 0.0f;
            for (int j = 0; t < ku; t += up, ++j) v += fu[t] * column[j * l.rows_row];
            act[l.act_at(ky, kx)] = activate(v, slope, gain, clamp);
        }
    }
    __syncthreads();

    T* dst = (T*)p.dst + (b * p.c + ch) * p.out_h * p.out_w;
    if constexpr (KD > 0) {
        if (p.radial) {
            radial_blocks<T, DOWN, KD, 4>(p, act, l, uh, th, tw, oy0, ox0, dst);
            return;
        }
    }
    if (p.radial) {
        // 4. A radial filter is not separable: one 2-D pass, only at the kept outputs.
        for (int i = first; i < th * tw; i += threads) {
            int oy = i / tw, ox = i % tw;
            if (oy0 + oy >= p.out_h || ox0 + ox >= p.out_w) continue;
            float v = 0.0f;
            for (int ty = 0; ty < kd; ++ty)
                for (int tx = 0; tx < kd; ++tx)
                    v += fd[ty * kd + tx] * act[l.act_at(oy * down + ty, ox * down + tx)];
            store(dst, (oy0 + oy) * p.out_w + ox0 + ox, v);
        }
        return;
    }
    // 4. Separable: filtered and down-sampled along x...
    for (int i = first; i < uh * tw; i += threads) {
        int ky = i / tw, ox = i % tw;
        float v = 0.0f;
        UNROLL
        for (int t = 0; t < kd; ++t) v += down_tap<KD>(p, fd, t) * act[l.act_at(ky, ox * down + t)];
        cols[i] = v;
    }
    __syncthreads();
    // 5. ...then along y.
    for (int i = first; i < th * tw; i += threads) {
        int oy = i / tw, ox = i % tw;
        if (oy0 + oy >= p.out_h || ox0 + ox >= p.out_w) continue;
        const float* c = cols + oy * down * tw + ox;
        float v = 0.0f;
        UNROLL
        for (int t = 0; t < kd; ++t) v += down_tap<KD>(p, fd, t) * c[t * tw];
        store(dst, (oy0 + oy) * p.out_w + ox0 + ox, v);
    }
}

// The tensor-core build for up-sampling by UP with 6·UP taps, then down-sampling by 2 with a
// radial 12 × 12 filter, fp16 activations. Its passes always cover a whole 16 × 32 output
// tile (a tile at a map's edge computes outputs it does not store), so every stride and loop
// bound is a constant.
template <int UP>
__device__ void filtered_lrelu_mma(const FilteredLrelu& p) {
    constexpr int IN_COLS = MMA_IN_COLS<UP>, IN_STRIDE = MMA_IN_STRIDE<UP>;
    constexpr int IN_BLOCKS = MMA_IN_BLOCKS<UP>, IN_ROWS = 8 * IN_BLOCKS;
    constexpr int STRIPS = MMA_COLS / 16, ROW_BLOCKS = 2 * MMA_ROWS / 16;
    extern __shared__ float shared[];
    half_bits* in = (half_bits*)shared;     // [IN_ROWS][IN_STRIDE]: demodulated, biased input
    half_bits* act = in + 2 * MMA_IN_WORDS; // [2][MMA_PLANE]: activated samples

    const long long ch = blockIdx.y, b = blockIdx.z;
    const int tile = (int)blockIdx.x, tiles_x = (int)p.tiles_x;
    const int th = (int)p.tile_h, tw = (int)p.tile_w;
    const int oy0 = (tile / tiles_x) * th, ox0 = (tile % tiles_x) * tw;
    // The tile's first up-sampled sample in the zero-inserted input, the first input sample a
    // tap meets, and how far past the former that is.
    const int my0 = oy0 * 2 - (int)p.pad_y, mx0 = ox0 * 2 - (int)p.pad_x;
    const int iy0 = ceil_div(my0, UP), ix0 = ceil_div(mx0, UP);
    const int phase_y = UP * iy0 - my0, phase_x = UP * ix0 - mx0;
    const half_bits* src = (const half_bits*)p.src + b * p.s_n + ch * p.s_c;
    const float scale = p.dgain ? p.dgain[b * p.c + ch] : 1.0f;
    const float bias = p.bias[ch];
    const int threads = (int)blockDim.x, first = (int)threadIdx.x;

    // The up-sampling bands for this tile's phases: along x (U), and along y for either shift.
    const unsigned* up_x = p.mma_bands + MMA_B_WORDS + phase_x * 2 * MMA_A_WORDS;
    const unsigned* up_y = p.mma_bands + MMA_B_WORDS + phase_y * 2 * MMA_A_WORDS;

    // 1. The input the tile reads, demodulated and biased, as fp16; zero outside the map. A
    //    thread keeps one column and steps down every GROUPS-th row, so that its place in the
    //    map is worked out once, not for every sample.
    constexpr int GROUPS = BLOCK_THREADS / IN_COLS;
    const int h = (int)p.h, w = (int)p.w;
    for (int item = first; item < IN_COLS * GROUPS; item += threads) {
        const int c = item % IN_COLS, x = ix0 + c, r0 = item / IN_COLS;
        const bool column_inside = x >= 0 && x < w;
        long long at = (iy0 + r0) * p.s_h + x * p.s_w;
        for (int r = r0; r < IN_ROWS; r += GROUPS, at += GROUPS * p.s_h) {
            const int y = iy0 + r;
            const bool inside = column_inside && y >= 0 && y < h;
            in[r * IN_STRIDE + c] = to_half(inside ? load(src, at) * scale + bias : 0.0f);
        }
    }
    __syncthreads();

    // 2. Warp w takes strips of 16 up-sampled columns: along x for every block of 8 input
    //    rows, then along y for every block of 16 up-sampled rows, activated, stored.
    const int warp = (int)threadIdx.x / 32, warps = ((int)blockDim.x + 31) / 32;
    const float gain = (float)p.gain, slope = (float)p.slope, clamp = (float)p.clamp;
    const unsigned* in_words = (const unsigned*)in;
    unsigned* act_words = (unsigned*)act;
    for (int s = warp; s < STRIPS; s += warps) {
        unsigned a[LANES][4];
        // Up-sampled along x, per lane and block of input rows: the y pass's operand halves
        // for the strip's columns 0–7 ([j][0]) and 8–15 ([j][1]).
        unsigned rows[IN_BLOCKS][2][LANES];
        for (int l = 0; l < LANES; ++l)
            for (int r = 0; r < 4; ++r) a[l][r] = up_x[r * 32 + lane_of(l)];
        UNROLL
        for (int j = 0; j < IN_BLOCKS; ++j) {
            unsigned x_in[LANES][2];
            float d[LANES][4];
            for (int l = 0; l < LANES; ++l) {
                const int g = lane_of(l) >> 2, t = lane_of(l) & 3;
                const int word = ((8 * j + g) * IN_STRIDE + 16 * s / UP + 2 * t) / 2;
                x_in[l][0] = in_words[word];
                x_in[l][1] = in_words[word + 4];
                for (int r = 0; r < 4; ++r) d[l][r] = 0.0f;
            }
            mma_16x8x16(d, a, x_in);
            for (int l = 0; l < LANES; ++l) {
                rows[j][0][l] = pack_halves(d[l][0], d[l][1]);
                rows[j][1][l] = pack_halves(d[l][2], d[l][3]);
            }
        }
        UNROLL
        for (int q = 0; q < ROW_BLOCKS; ++q) {
            // The window of 16 input rows behind up-sampled rows 16q … 16q + 15 starts at a
            // block of 8: `shift` rows before the first that a tap meets.
            const int j0 = 2 * q / UP, shift = 16 * q / UP - 8 * j0;
            for (int l = 0; l < LANES; ++l)
                for (int r = 0; r < 4; ++r)
                    a[l][r] = up_y[shift / 4 * MMA_A_WORDS + r * 32 + lane_of(l)];
            UNROLL
            for (int half = 0; half < 2; ++half) {
                unsigned y_in[LANES][2];
                float d[LANES][4];
                for (int l = 0; l < LANES; ++l) {
                    y_in[l][0] = rows[j0][half][l];
                    y_in[l][1] = rows[j0 + 1][half][l];
                    for (int r = 0; r < 4; ++r) d[l][r] = 0.0f;
                }
                mma_16x8x16(d, a, y_in);
                for (int l = 0; l < LANES; ++l) {
                    const int g = lane_of(l) >> 2, t = lane_of(l) & 3;
                    for (int r = 0; r < 2; ++r) {
                        const int y = 16 * q + g + 8 * r, x = 16 * s + 8 * half + 2 * t;
                        act_words[mma_act_at(y, x) / 2] =
                            pack_halves(activate(d[l][2 * r], slope, gain, clamp),
                                        activate(d[l][2 * r + 1], slope, gain, clamp));
                    }
                }
            }
        }
    }
    __syncthreads();

    // 3. Down-sampled by the radial filter.
    half_bits* dst = (half_bits*)p.dst + (b * p.c + ch) * p.out_h * p.out_w;
    radial_mma(p, act, th, tw, oy0, ox0, dst);
}

// 256 threads a block (THREADS on the host), and at least 4 blocks resident per SM: that caps a
// thread at 64 registers, which the builds need without spilling (checked with ptxas -v for
// sm_90), where left alone they take 69 and only 3 blocks fit.
#define FILTERED_LRELU_BOUNDS __launch_bounds__(BLOCK_THREADS, 4)

extern "C" __global__ void FILTERED_LRELU_BOUNDS filtered_lrelu_f32(FilteredLrelu p) {
    filtered_lrelu<float, 0, 0, 0, 0>(p);
}
extern "C" __global__ void FILTERED_LRELU_BOUNDS filtered_lrelu_f16(FilteredLrelu p) {
    filtered_lrelu<half_bits, 0, 0, 0, 0>(p);
}
// The published designs' filters (6 taps per factor): up-sampling by 2 or 4, down-sampling by 2.
extern "C" __global__ void FILTERED_LRELU_BOUNDS filtered_lrelu_up2_f32(FilteredLrelu p) {
    filtered_lrelu<float, 2, 12, 2, 12>(p);
}
extern "C" __global__ void FILTERED_LRELU_BOUNDS filtered_lrelu_up2_f16(FilteredLrelu p) {
    filtered_lrelu<half_bits, 2, 12, 2, 12>(p);
}
extern "C" __global__ void FILTERED_LRELU_BOUNDS filtered_lrelu_up4_f32(FilteredLrelu p) {
    filtered_lrelu<float, 4, 24, 2, 12>(p);
}
extern "C" __global__ void FILTERED_LRELU_BOUNDS filtered_lrelu_up4_f16(FilteredLrelu p) {
    filtered_lrelu<half_bits, 4, 24, 2, 12>(p);
}
// Their radial layers with every pass on the tensor cores (fp16 operands from sm_80 on).
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
extern "C" __global__ void FILTERED_LRELU_BOUNDS filtered_lrelu_up2_mma_f16(FilteredLrelu p) {
    filtered_lrelu_mma<2>(p);
}
extern "C" __global__ void FILTERED_LRELU_BOUNDS filtered_lrelu_up4_mma_f16(FilteredLrelu p) {
    filtered_lrelu_mma<4>(p);
}
#endif
"#;

/// The kernel's parameter block; field for field the `FilteredLrelu` struct of [`SOURCE`].
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
struct Params {
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
    bias: u64,
    up_taps: u64,
    down_taps: u64,
    up_count: i64,
    down_count: i64,
    radial: i64,
    up: i64,
    down: i64,
    pad_x: i64,
    pad_y: i64,
    gain: f64,
    slope: f64,
    clamp: f64,
    dst: u64,
    out_h: i64,
    out_w: i64,
    tile_h: i64,
    tile_w: i64,
    tiles_x: i64,
    in_h: i64,
    in_w: i64,
    mma_bands: u64,
    down_consts: DownConsts,
}

/// The down-sampling taps as constants of the launch (`down_consts` in the kernel).
#[repr(transparent)]
#[derive(Clone, Copy, Debug)]
struct DownConsts([f32; DOWN_CONSTS]);

/// Taps the parameter block holds: a 12 × 12 radial filter.
const DOWN_CONSTS: usize = 144;

impl Default for DownConsts {
    fn default() -> Self {
        Self([0.0; DOWN_CONSTS])
    }
}

// SAFETY: plain 8-byte fields and an array of floats, laid out as the kernel's struct (checked
// by the compile test's size assertion, by the CPU build of the kernel in the tests and by the
// GPU parity runs).
unsafe impl DeviceRepr for Params {}

/// A layer's filters as the kernel takes them (fp32, correlation order, gains included): on
/// the layer's device for the general build; the down-sampling taps' values, which the builds
/// for the published filter sizes take as constants of the launch; and for radial layers of
/// those sizes the tensor-core builds' bands, built once here.
pub struct KernelTaps {
    /// The up-sampling filter, [K] (a single 1 for none).
    up: Tensor,
    /// The down-sampling filter, [K] (separable) or [K, K] (radial).
    down: Tensor,
    down_values: Vec<f32>,
    /// For the published radial filter sizes, the tensor-core builds' bands and the
    /// up-sampling factor they were built for (fp16, [`mma_bands`]).
    mma_bands: Option<(i64, Tensor)>,
}

impl KernelTaps {
    /// From the taps on the CPU, for a kernel on `device`.
    pub fn new(up: &Tensor, down: &Tensor, device: Device) -> Self {
        let values = |t: &Tensor| {
            let t = t.to_kind(Kind::Float).contiguous();
            let count = t.numel();
            let mut v = vec![0.0; count];
            t.copy_data(&mut v, count);
            v
        };
        let down_values = values(down);
        let up_values = values(up);
        // 12 × 12 radial taps after 6 up-sampling taps per factor of 2 or 4.
        let mma_bands =
            (down.size() == [12, 12] && matches!(up_values.len(), 12 | 24)).then(|| {
                let factor = up_values.len() / 6;
                let bands = mma_bands(&up_values, &down_values, factor);
                let bands = Tensor::from_slice(&bands)
                    .to_kind(Kind::Half)
                    .to_device(device);
                (factor as i64, bands)
            });
        let on_device = |t: &Tensor| t.to_kind(Kind::Float).contiguous().to_device(device);
        Self {
            up: on_device(up),
            down: on_device(down),
            down_values,
            mma_bands,
        }
    }
}

/// The tensor-core builds' bands for these taps (12 × 12 radial `down`, `6 · up` taps in
/// `up_taps`), as the kernel's lanes read them in pairs: the matrix fragments of PTX's
/// `mma.m16n8k16`, where lane 4g + t holds, of a 16 × 16 A operand, rows g and g + 8 at
/// columns 2t, 2t + 1 and 2t + 8, 2t + 9 (registers 0–3: row g, row g + 8, row g columns + 8,
/// row g + 8 columns + 8), and of a 16 × 8 B operand column g at rows 2t, 2t + 1 (register 0)
/// and 2t + 8, 2t + 9 (register 1). The kernel's comments say what each band is.
fn mma_bands(up_taps: &[f32], down: &[f32], up: usize) -> Vec<f32> {
    let tap = |taps: &[f32], i: i64| usize::try_from(i).ok().and_then(|i| taps.get(i).copied());
    let mut pairs = Vec::new();
    // The radial filter's: B operands [row i][chunk offset][register][lane], element (k, n)
    // tap (i, k + 16·offset − 2n).
    for row in down.chunks(12) {
        for offset in 0..2 {
            for reg in 0..2 {
                for lane in 0..32 {
                    let (g, t) = (lane / 4, lane % 4);
                    for h in 0..2 {
                        let j = 2 * t + h + 8 * reg + 16 * offset - 2 * g;
                        pairs.push(tap(row, j).unwrap_or(0.0));
                    }
                }
            }
        }
    }
    // The up-sampling filter's: A operands [phase][window shift 0 or 4][register][lane],
    // element (m, k) tap up·(k − shift) + phase − m.
    let up = up as i64;
    for phase in 0..up {
        for shift in [0, 4] {
            for reg in 0..4 {
                for lane in 0..32 {
                    let (g, t) = (lane / 4, lane % 4);
                    let m = g + 8 * (reg & 1);
                    for h in 0..2 {
                        let k = 2 * t + h + 8 * (reg >> 1);
                        pairs.push(tap(up_taps, up * (k - shift) + phase - m).unwrap_or(0.0));
                    }
                }
            }
        }
    }
    pairs
}

/// What one filtered leaky ReLU reads. The filters are fp32, contiguous, on the input's device.
pub struct FilteredLreluInput<'a> {
    /// The modulated convolution's output [N, C, H, W] (fp32 or fp16, any strides).
    pub x: &'a Tensor,
    /// [N, C] demodulation factors (fp32), applied before the bias; `None` for none.
    pub dgain: Option<&'a Tensor>,
    /// [C], fp32.
    pub bias: &'a Tensor,
    pub taps: &'a KernelTaps,
    pub activation: &'a Activation,
}

/// Output samples per block along each axis in the general build, and its rows in the builds
/// for known sizes (fewer where the map is smaller or the filters long).
const TILE: i64 = 16;
/// The tile's width in the builds for known sizes (`KNOWN_TILE_W` in the kernel).
const KNOWN_TILE_W: i64 = 32;
/// Threads a block (`BLOCK_THREADS` in the kernel).
const THREADS: u32 = 256;
/// Shared memory a block may use without opting in to more.
const SHARED_LIMIT: usize = 48 * 1024;

/// Which compiled function runs a launch: the general one, or one built for the filter sizes
/// of the published designs (6 taps per resampling factor, down-sampling by 2), whose loops
/// the compiler unrolls and whose heaviest passes keep their operands in registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Build {
    General,
    /// Up-sampling by 2 with 12 taps.
    Up2,
    /// Up-sampling by 4 with 24 taps (where a layer's sampling rate doubles).
    Up4,
}

/// Which cores run a radial layer's filters in the builds for known sizes, for fp16
/// activations (fp32 ones keep the CUDA cores: the tensor cores' operands are fp16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterCores {
    /// Multiply-adds of the taps that meet a sample, several outputs a thread.
    CudaCores,
    /// Every pass a product of matrices with bands of the filters (`mma.m16n8k16`, from
    /// sm_80 on).
    TensorCores,
}

/// The builds' radial layers on the tensor cores, [Up2, Up4] (fp16 only).
const MMA_NAMES: [&str; 2] = ["filtered_lrelu_up2_mma_f16", "filtered_lrelu_up4_mma_f16"];
/// Words of shared memory a block of the tensor-core builds uses, whatever its tile: the fp16
/// input and the fp16 planes of activated samples (`MMA_IN_WORDS`, `MMA_ACT_WORDS` in the
/// kernel).
const MMA_SHARED_WORDS: i64 = 4 * 8 * 56 / 2 + 2144;

impl Build {
    /// The kernels' names, [build][precision] with fp32 first.
    const NAMES: [[&'static str; 2]; 3] = [
        ["filtered_lrelu_f32", "filtered_lrelu_f16"],
        ["filtered_lrelu_up2_f32", "filtered_lrelu_up2_f16"],
        ["filtered_lrelu_up4_f32", "filtered_lrelu_up4_f16"],
    ];

    /// The phases a row of activated samples is stored in (`phases` in the kernel's `Layout`):
    /// the builds for known sizes read every 2·down-th column.
    fn act_phases(self, down: i64) -> i64 {
        match self {
            Build::General => down,
            Build::Up2 | Build::Up4 => 2 * down,
        }
    }

    /// The largest output tile, rows × columns. The builds for known sizes take tiles twice as
    /// wide, so that the up-sampling's margin is a smaller share of the work and their radial
    /// pass has two warps.
    fn tile(self) -> (i64, i64) {
        match self {
            Build::General => (TILE, TILE),
            Build::Up2 | Build::Up4 => (TILE, KNOWN_TILE_W),
        }
    }

    fn index(self) -> usize {
        match self {
            Build::General => 0,
            Build::Up2 => 1,
            Build::Up4 => 2,
        }
    }

    /// The tensor-core build's index in [`MMA_NAMES`], for the builds that have one.
    fn mma_index(self) -> Option<usize> {
        match self {
            Build::General => None,
            Build::Up2 => Some(0),
            Build::Up4 => Some(1),
        }
    }
}

/// A launch worked out from the tensors' shapes: parameters (pointers filled by the caller),
/// the output's shape, grid and shared memory.
struct Launch {
    build: Build,
    /// The build's tensor-core form runs (a radial layer in fp16).
    tensor_cores: bool,
    params: Params,
    out: [i64; 4],
    grid: (u32, u32, u32),
    shared_bytes: usize,
}

impl Launch {
    /// The tensor-core build that runs it ([`MMA_NAMES`]' index), if one does.
    fn tensor_core_build(&self) -> Option<usize> {
        self.build.mma_index().filter(|_| self.tensor_cores)
    }
}

/// Shared floats a block of `build` needs for a `th` × `tw` output tile, laid out as the
/// kernel's `layout_for` does (the tensor-core build's fixed buffers where `tensor_cores`).
fn shared_floats(
    p: &Params,
    build: Build,
    tensor_cores: bool,
    th: i64,
    tw: i64,
) -> (usize, i64, i64) {
    let (uh, uw) = (
        (th - 1) * p.down + p.down_count,
        (tw - 1) * p.down + p.down_count,
    );
    // Input rows behind uh up-sampled rows: at most ⌊(uh + ku − 2) / up⌋ + 1 (see the kernel).
    let (ih, iw) = (
        (uh + p.up_count - 2) / p.up + 1,
        (uw + p.up_count - 2) / p.up + 1,
    );
    // The builds for known sizes lay their buffers out for a whole tile (see the kernel).
    let (lw, liw) = if build == Build::General {
        (uw, iw)
    } else {
        let (_, full_w) = build.tile();
        let lw = (full_w - 1) * p.down + p.down_count;
        (lw, (lw + p.up_count - 2) / p.up + 1)
    };
    let (in_row, rows_row) = (liw | 1, lw | 1);
    let phases = build.act_phases(p.down);
    let mut act_phase = (lw + phases - 1) / phases;
    if build != Build::General {
        act_phase += (24 - act_phase % 16) % 16;
    }
    let act_row = phases * act_phase;
    let act_row = act_row + (5 - act_row % 4) % 4;
    let floats = if tensor_cores {
        MMA_SHARED_WORDS
    } else {
        let taps = p.up_count + p.down_count * if p.radial != 0 { p.down_count } else { 1 };
        taps + ih * in_row + ih * rows_row + uh * act_row + uh * tw
    };
    (floats as usize, ih, iw)
}

/// Works out a launch; `filter_cores` says which cores should run a radial layer in fp16 (the
/// builds for known sizes only).
fn plan(input: &FilteredLreluInput, filter_cores: FilterCores) -> Result<Launch, KernelError> {
    let a = input.activation;
    let size = input.x.size();
    let stride = input.x.stride();
    assert_eq!(
        size.len(),
        4,
        "filtered leaky ReLU input must be [N, C, H, W]"
    );
    let (n, c, h, w) = (size[0], size[1], size[2], size[3]);
    let taps = input.taps;
    let up_count = taps.up.numel() as i64;
    let radial = taps.down.dim() == 2;
    let down_count = taps.down.size()[0];
    let [x0, x1, y0, y1] = a.padding;
    let up_h = h * a.up + y0 + y1 - up_count + 1;
    let up_w = w * a.up + x0 + x1 - up_count + 1;
    let (out_h, out_w) = (
        (up_h - down_count) / a.down + 1,
        (up_w - down_count) / a.down + 1,
    );
    // The kernel counts positions within a map in 32 bits.
    let limit = i64::from(i32::MAX) / 8;
    if [h, w, up_h, up_w].iter().any(|&v| v > limit) || a.padding.iter().any(|p| p.abs() > limit) {
        return Err(KernelError::Shape(format!("a {h}×{w} map is too large")));
    }
    if out_h < 1 || out_w < 1 {
        return Err(KernelError::Shape(format!(
            "a {h}×{w} map filtered as {a:?} leaves no output"
        )));
    }
    let mut params = Params {
        s_n: stride[0],
        s_c: stride[1],
        s_h: stride[2],
        s_w: stride[3],
        n,
        c,
        h,
        w,
        up_count,
        down_count,
        radial: i64::from(radial),
        up: a.up,
        down: a.down,
        pad_x: x0,
        pad_y: y0,
        gain: a.gain,
        slope: a.slope,
        clamp: a.clamp.unwrap_or(-1.0),
        out_h,
        out_w,
        ..Default::default()
    };
    let build = match (a.up, up_count, a.down, down_count) {
        (2, 12, 2, 12) => Build::Up2,
        (4, 24, 2, 12) => Build::Up4,
        _ => Build::General,
    };
    let tensor_cores = filter_cores == FilterCores::TensorCores
        && build != Build::General
        && input.x.kind() == Kind::Half
        && taps.mma_bands.as_ref().is_some_and(|(up, _)| *up == a.up);
    // The largest tile up to the build's whose samples fit in shared memory.
    let (tile_h, tile_w) = build.tile();
    let (mut th, mut tw) = (tile_h.min(out_h), tile_w.min(out_w));
    let (floats, ih, iw) = loop {
        let (floats, ih, iw) = shared_floats(&params, build, tensor_cores, th, tw);
        if floats * 4 <= SHARED_LIMIT {
            break (floats, ih, iw);
        }
        if th == 1 && tw == 1 {
            return Err(KernelError::Shape(format!(
                "filters of {up_count} and {down_count} taps need {floats} floats of shared memory"
            )));
        }
        if th >= tw {
            th = (th + 1) / 2;
        } else {
            tw = (tw + 1) / 2;
        }
    };
    let (tiles_y, tiles_x) = ((out_h + th - 1) / th, (out_w + tw - 1) / tw);
    (params.tile_h, params.tile_w, params.tiles_x) = (th, tw, tiles_x);
    (params.in_h, params.in_w) = (ih, iw);
    // CUDA's grid limits: 2³¹ − 1 blocks along x, 65,535 along y and z.
    let grid_dim = |v: i64, limit: i64, what: &str| {
        u32::try_from(v)
            .ok()
            .filter(|&v| i64::from(v) <= limit)
            .ok_or_else(|| KernelError::Shape(format!("{v} {what} in one launch")))
    };
    if build != Build::General {
        // 12 values, or 144 for a radial filter (bind() checks the shape).
        let values = &taps.down_values[..taps.down_values.len().min(DOWN_CONSTS)];
        params.down_consts.0[..values.len()].copy_from_slice(values);
    }
    Ok(Launch {
        build,
        tensor_cores,
        params,
        out: [n, c, out_h, out_w],
        grid: (
            grid_dim(tiles_y * tiles_x, i64::from(i32::MAX), "tiles")?,
            grid_dim(c, 65_535, "channels")?,
            grid_dim(n, 65_535, "images")?,
        ),
        shared_bytes: floats * 4,
    })
}

/// Checks the tensors the kernel will read (the generator builds them; a mismatch would let
/// the kernel read out of bounds) and fills the launch's pointers and output.
fn bind(input: &FilteredLreluInput, launch: &mut Launch) -> Tensor {
    let x = input.x;
    let (device, kind) = (x.device(), x.kind());
    let [n, c, ..] = launch.out;
    let aux = |t: &Tensor, shape: &[i64]| {
        assert!(
            t.kind() == Kind::Float
                && t.is_contiguous()
                && t.size() == shape
                && t.device() == device,
            "filtered leaky ReLU input {:?} {:?} on {:?}, expected fp32 {shape:?} on {device:?}",
            t.kind(),
            t.size(),
            t.device()
        );
    };
    aux(input.bias, &[c]);
    if let Some(d) = input.dgain {
        aux(d, &[n, c]);
    }
    let p = &launch.params;
    let taps = input.taps;
    aux(&taps.up, &[p.up_count]);
    // plan() took the count from the first dimension; a radial filter must be square.
    if p.radial != 0 {
        aux(&taps.down, &[p.down_count, p.down_count]);
    } else {
        aux(&taps.down, &[p.down_count]);
    }
    let out = Tensor::empty(launch.out, (kind, device));
    let p = &mut launch.params;
    p.src = cuda_kernels::ptr(x);
    p.dgain = input.dgain.map_or(0, cuda_kernels::ptr);
    p.bias = cuda_kernels::ptr(input.bias);
    p.up_taps = cuda_kernels::ptr(&taps.up);
    p.down_taps = cuda_kernels::ptr(&taps.down);
    if launch.tensor_cores {
        p.mma_bands = taps
            .mma_bands
            .as_ref()
            .map_or(0, |(_, bands)| cuda_kernels::ptr(bands));
    }
    p.dst = cuda_kernels::ptr(&out);
    out
}

/// Which compiled function runs activations of `kind`: 0 for fp32, 1 for fp16.
fn precision_index(kind: Kind) -> Result<usize, KernelError> {
    match kind {
        Kind::Float => Ok(0),
        Kind::Half => Ok(1),
        other => Err(KernelError::Shape(format!("{other:?} activations"))),
    }
}

/// The compiled kernel, loaded on one GPU.
pub struct FilteredLreluKernels {
    stream: Arc<CudaStream>,
    /// [build][precision], as [`Build::NAMES`].
    functions: Vec<[CudaFunction; 2]>,
    /// The tensor-core builds, as [`MMA_NAMES`], where the GPU has fp16 tensor cores and they
    /// passed the check.
    tensor_core_functions: Option<[CudaFunction; 2]>,
    /// Whether radial layers use them (a benchmark compares both passes).
    use_tensor_cores: AtomicBool,
}

impl FilteredLreluKernels {
    /// Compiles (once per process and architecture) and loads the kernel on `device`, and
    /// checks every build there against the operators ([`self_check`]). Radial layers in fp16
    /// run on the tensor cores where the GPU has them (sm_80 on) and that build passes the check;
    /// where it does not, the log says why and they keep the CUDA cores.
    pub fn new(device: Device) -> Result<Self, KernelError> {
        static PTX: cuda_kernels::CompiledOnce = OnceLock::new();
        static PTX_MMA: cuda_kernels::CompiledOnce = OnceLock::new();
        let (major, _) = cuda_kernels::compute_capability(device)?;
        let (arch, ptx) = if major >= 8 {
            (cuda_kernels::MMA_PTX_ARCH, &PTX_MMA)
        } else {
            (cuda_kernels::PTX_ARCH, &PTX)
        };
        let (stream, module) = cuda_kernels::load_module_for(device, arch, ptx, compile)?;
        let load = |name: &str| module.load_function(name).map_err(KernelError::Driver);
        let mut kernels = Self {
            stream,
            functions: Build::NAMES
                .iter()
                .map(|[f32, f16]| Ok([load(f32)?, load(f16)?]))
                .collect::<Result<_, KernelError>>()?,
            tensor_core_functions: None,
            use_tensor_cores: AtomicBool::new(false),
        };
        self_check(device, |input| {
            kernels.run_with(input, FilterCores::CudaCores)
        })?;
        if major >= 8 {
            let checked = match (load(MMA_NAMES[0]), load(MMA_NAMES[1])) {
                (Ok(up2), Ok(up4)) => {
                    kernels.tensor_core_functions = Some([up2, up4]);
                    self_check(device, |input| {
                        kernels.run_with(input, FilterCores::TensorCores)
                    })
                }
                (Err(e), _) | (_, Err(e)) => Err(e),
            };
            match checked {
                Ok(()) => kernels.use_tensor_cores = AtomicBool::new(true),
                Err(e) => {
                    kernels.tensor_core_functions = None;
                    tracing::warn!(
                        error = %crate::chain::Chain(&e),
                        "radial layers keep the CUDA cores"
                    );
                }
            }
        }
        Ok(kernels)
    }

    /// Which cores run radial layers in fp16 now.
    pub fn filter_cores(&self) -> FilterCores {
        if self.use_tensor_cores.load(Ordering::Relaxed) {
            FilterCores::TensorCores
        } else {
            FilterCores::CudaCores
        }
    }

    /// Chooses which cores run radial layers in fp16; false (and no change) when
    /// the tensor cores are asked for but did not load.
    pub fn set_filter_cores(&self, cores: FilterCores) -> bool {
        let tensor_cores = cores == FilterCores::TensorCores;
        if tensor_cores && self.tensor_core_functions.is_none() {
            return false;
        }
        self.use_tensor_cores.store(tensor_cores, Ordering::Relaxed);
        true
    }

    /// Runs one filtered leaky ReLU on the GPU; returns the layer's output.
    pub fn run(&self, input: &FilteredLreluInput) -> Result<Tensor, KernelError> {
        self.run_with(input, self.filter_cores())
    }

    fn run_with(
        &self,
        input: &FilteredLreluInput,
        filter_cores: FilterCores,
    ) -> Result<Tensor, KernelError> {
        let precision = precision_index(input.x.kind())?;
        // Without the tensor-core builds every layer takes the CUDA cores; plan() gives a
        // tensor-core launch only to a build that has one.
        let cores = match self.tensor_core_functions {
            Some(_) => filter_cores,
            None => FilterCores::CudaCores,
        };
        let mut launch = plan(input, cores)?;
        let function = match (&self.tensor_core_functions, launch.tensor_core_build()) {
            (Some(functions), Some(i)) => &functions[i],
            _ => &self.functions[launch.build.index()][precision],
        };
        let out = bind(input, &mut launch);
        let config = LaunchConfig {
            grid_dim: launch.grid,
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: launch.shared_bytes as u32,
        };
        use cudarc::driver::PushKernelArg;
        let mut builder = self.stream.launch_builder(function);
        builder.arg(&launch.params);
        // SAFETY: every pointer is a live tensor of the checked shape, kind and device; they
        // outlive the launch on this stream (libtorch's allocator reuses freed memory in stream
        // order), and the output is fresh.
        unsafe { builder.launch(config) }.map_err(KernelError::Driver)?;
        Ok(out)
    }
}

/// Runs every build, both precisions and both kinds of down-sampling filter once on a small map
/// on `device` with `run`, against the operator route. The tests check the kernel's source on a
/// CPU build; this catches what only the GPU's compiler or hardware could get wrong, in a few
/// milliseconds, before any frame depends on it.
fn self_check(
    device: Device,
    run: impl Fn(&FilteredLreluInput) -> Result<Tensor, KernelError>,
) -> Result<(), KernelError> {
    let _guard = tch::no_grad_guard();
    let f32 = (Kind::Float, device);
    // Values spread over [-1, 1] without touching the global random generator.
    let spread = |n: i64, step: f64| (Tensor::arange(n, f32) * step).sin();
    for (up, up_count, build) in [
        (2, 12, Build::Up2),
        (4, 24, Build::Up4),
        (2, 14, Build::General),
    ] {
        for radial in [true, false] {
            let fu = spread(up_count, 1.3) / up_count as f64 + 1.0 / up_count as f64;
            let fd = if radial {
                spread(144, 0.7).view([12, 12]) / 144.0 + 1.0 / 144.0
            } else {
                spread(12, 0.7) / 12.0 + 1.0 / 12.0
            };
            let taps = KernelTaps::new(
                &super::stylegan3::kernel_taps_of(&fu.to_device(Device::Cpu), (up * up) as f64),
                &super::stylegan3::kernel_taps_of(&fd.to_device(Device::Cpu), 1.0),
                device,
            );
            let activation = Activation {
                up,
                down: 2,
                padding: [
                    up_count / 2 + 4,
                    up_count / 2 + 5,
                    up_count / 2 + 4,
                    up_count / 2 + 5,
                ],
                gain: std::f64::consts::SQRT_2,
                slope: 0.2,
                clamp: Some(0.8),
            };
            let x = spread(2 * 2 * 21 * 37, 0.37).view([2, 2, 21, 37]);
            let bias = spread(2, 2.1) * 0.2;
            let dgain = spread(4, 0.9).view([2, 2]).abs() + 0.5;
            for kind in [Kind::Float, Kind::Half] {
                let input = x.to_kind(kind);
                let got = run(&FilteredLreluInput {
                    x: &input,
                    dgain: Some(&dgain),
                    bias: &bias,
                    taps: &taps,
                    activation: &activation,
                })?;
                let scaled = input.to_kind(Kind::Float) * dgain.view([2, 2, 1, 1]);
                let expected = super::stylegan3::filtered_lrelu(
                    &scaled,
                    Some(&fu),
                    Some(&fd),
                    &bias,
                    &activation,
                );
                // 2 % of the largest output: fp16 rounding, and the TF32 arithmetic cuDNN may use
                // for the operators' fp32 convolutions, stay well inside it; a wrong tap, sample
                // or store does not.
                let allowed = 0.02 * expected.abs().max().double_value(&[]);
                let diff = if got.size() == expected.size() {
                    (got.to_kind(Kind::Float) - expected)
                        .abs()
                        .max()
                        .double_value(&[])
                } else {
                    f64::INFINITY
                };
                if diff.is_nan() || diff > allowed {
                    let what = format!(
                        "{build:?} build ({} down-sampling, {kind:?})",
                        if radial { "radial" } else { "separable" }
                    );
                    return Err(KernelError::SelfCheck(what, diff, allowed));
                }
            }
        }
    }
    Ok(())
}

/// Compiles the kernel source to PTX for a virtual architecture.
pub fn compile(arch: &'static str) -> Result<String, KernelError> {
    cuda_kernels::compile_source(
        &format!("{ELEMENT_ACCESS}{SOURCE}"),
        "lifelapse_filtered_lrelu.cu",
        arch,
    )
}

/// The kernel compiled for the CPU by the host's C++ compiler: CUDA's names defined for one
/// thread per block, the grid walked block by block. Tests check the kernel's arithmetic with
/// it where no GPU is.
#[cfg(test)]
pub(crate) mod emulator {
    use super::*;

    const PRELUDE: &str = r#"
#include <math.h>
#define __global__
#define __launch_bounds__(...)
#define __device__
#define __forceinline__ inline
#define __shared__
struct lifelapse_dim3 { unsigned int x, y, z; };
static lifelapse_dim3 threadIdx, blockIdx, blockDim, gridDim;
static inline void __syncthreads() {}
// The block's shared memory; the kernel's `extern __shared__ float shared[]` names this.
float shared[1 << 16];
"#;

    const DRIVER: &str = r#"
typedef void (*Kernel)(FilteredLrelu);
static const unsigned long long GUARD = 4096;
static const Kernel KERNELS[3][2] = {
    {filtered_lrelu_f32, filtered_lrelu_f16},
    {filtered_lrelu_up2_f32, filtered_lrelu_up2_f16},
    {filtered_lrelu_up4_f32, filtered_lrelu_up4_f16},
};
static const Kernel MMA_KERNELS[2] = {filtered_lrelu_up2_mma_f16, filtered_lrelu_up4_mma_f16};

// mma: -1 for the build's own kernel, else the tensor-core build's index.
extern "C" int emulate(int build, int half, int mma, FilteredLrelu p, unsigned gx, unsigned gy,
                       unsigned gz, unsigned long long shared_bytes) {
    const unsigned long long used = shared_bytes / sizeof(float);
    if (used + GUARD > sizeof(shared) / sizeof(float)) return 1;
    blockDim = {1, 1, 1};
    threadIdx = {0, 0, 0};
    gridDim = {gx, gy, gz};
    // Past what the host sized, a guard the kernel must neither read (NaN would reach the
    // output) nor write: the kernel's layout and plan()'s agree.
    for (unsigned long long i = used; i < used + GUARD; ++i) shared[i] = NAN;
    for (unsigned z = 0; z < gz; ++z)
        for (unsigned y = 0; y < gy; ++y)
            for (unsigned x = 0; x < gx; ++x) {
                blockIdx = {x, y, z};
                (mma >= 0 ? MMA_KERNELS[mma] : KERNELS[build][half])(p);
            }
    for (unsigned long long i = used; i < used + GUARD; ++i)
        if (!isnan(shared[i])) return 2;
    return 0;
}
"#;

    type Emulate = unsafe extern "C" fn(i32, i32, i32, Params, u32, u32, u32, u64) -> i32;

    /// The CPU build, one per test process (its globals make it one launch at a time).
    pub(crate) struct Emulator {
        _dir: tempfile::TempDir,
        library: libloading::Library,
        lock: std::sync::Mutex<()>,
    }

    impl Emulator {
        pub(crate) fn get() -> &'static Emulator {
            static EMULATOR: OnceLock<Emulator> = OnceLock::new();
            EMULATOR.get_or_init(|| {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let source = dir.path().join("filtered_lrelu.cpp");
                let library = dir.path().join("libfiltered_lrelu.so");
                std::fs::write(
                    &source,
                    format!("{PRELUDE}{ELEMENT_ACCESS}{SOURCE}{DRIVER}"),
                )
                .expect("write the kernel source");
                let status = std::process::Command::new("c++")
                    .args([
                        "-std=c++17",
                        "-O2",
                        "-shared",
                        "-fPIC",
                        "-Wall",
                        "-Werror",
                        "-o",
                    ])
                    .arg(&library)
                    .arg(&source)
                    .status()
                    .expect("the C++ compiler (c++) runs");
                assert!(status.success(), "the kernel compiles for the CPU");
                // SAFETY: a library built just now from the source above; no initialisers.
                let library = unsafe { libloading::Library::new(&library) }.expect("load it");
                Emulator {
                    _dir: dir,
                    library,
                    lock: std::sync::Mutex::new(()),
                }
            })
        }

        /// Runs the kernel on CPU tensors, as [`FilteredLreluKernels::run`] does on a GPU with
        /// radial layers on the CUDA cores.
        pub(crate) fn run(&self, input: &FilteredLreluInput) -> Result<Tensor, KernelError> {
            self.run_with(input, FilterCores::CudaCores)
        }

        /// [`Emulator::run`] with radial layers in fp16 on the cores `filter_cores` says.
        pub(crate) fn run_with(
            &self,
            input: &FilteredLreluInput,
            filter_cores: FilterCores,
        ) -> Result<Tensor, KernelError> {
            let half = precision_index(input.x.kind())? as i32;
            let mut launch = plan(input, filter_cores)?;
            let mma = launch.tensor_core_build().map_or(-1, |i| i as i32);
            let out = bind(input, &mut launch);
            let (gx, gy, gz) = launch.grid;
            let _one_at_a_time = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            // SAFETY: the symbol is the driver above with this signature; the pointers are the
            // checked CPU tensors, alive for the call.
            let status = unsafe {
                let emulate = self
                    .library
                    .get::<Emulate>(b"emulate")
                    .expect("the driver's symbol");
                emulate(
                    launch.build.index() as i32,
                    half,
                    mma,
                    launch.params,
                    gx,
                    gy,
                    gz,
                    launch.shared_bytes as u64,
                )
            };
            match status {
                0 => {}
                1 => panic!("the tile needs more shared memory than emulated"),
                _ => panic!("the kernel wrote past the shared memory plan() sized"),
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::emulator::Emulator;
    use super::*;
    use crate::nets::cuda_kernels::{MMA_PTX_ARCH, PTX_ARCH};
    use crate::nets::stylegan3::{filtered_lrelu, kernel_taps_of, GeneratorConfig, Variant};

    /// The source compiles with NVRTC (installed by `tools/setup.sh --test`), with the
    /// tensor-core builds for the architectures that have their instruction only.
    #[test]
    fn the_kernel_compiles_to_ptx() {
        let has = |ptx: &str, name: &str| ptx.contains(&format!(".entry {name}("));
        let with_mma = compile(MMA_PTX_ARCH).expect("NVRTC compiles it for sm_80");
        assert!(MMA_NAMES.iter().all(|name| has(&with_mma, name)));
        let ptx = compile(PTX_ARCH).expect("NVRTC compiles the filtered leaky ReLU");
        assert!(!MMA_NAMES.iter().any(|name| has(&ptx, name)));
        for name in Build::NAMES.iter().flatten() {
            assert!(
                has(&ptx, name) && has(&with_mma, name),
                "{name} missing from the PTX"
            );
        }
        // 32 fields of 8 bytes and 144 floats: the parameter block the kernel declares.
        assert_eq!(std::mem::size_of::<Params>(), 32 * 8 + 144 * 4);
        assert!(
            ptx.contains(".param .align 8 .b8 filtered_lrelu_f32_param_0[832]"),
            "{ptx}"
        );
    }

    /// On the H100 every build fits its launch bounds (64 registers a thread, so 4 blocks of
    /// 256 threads share an SM) without spilling; ptxas assembles what NVRTC compiled.
    #[test]
    fn the_kernel_assembles_for_hopper_within_its_launch_bounds() {
        let ptx = compile(MMA_PTX_ARCH).expect("NVRTC compiles the filtered leaky ReLU");
        let entries = cuda_kernels::assembler::assemble_for_hopper(&ptx);
        let mut names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        names.sort_unstable();
        let mut expected: Vec<&str> = Build::NAMES.iter().flatten().copied().collect();
        expected.extend(MMA_NAMES);
        expected.sort_unstable();
        assert_eq!(names, expected);
        for entry in &entries {
            assert!(
                entry.registers > 0 && entry.registers <= 64 && entry.spill_bytes == 0,
                "{entry:?}"
            );
        }
    }

    /// At the published 1024² designs every layer with filters runs a build for known sizes,
    /// in whole 16 × 32 tiles where the map allows, within the shared memory that lets 4 blocks
    /// share an H100 SM (228 KB; the launch bounds ask for 4).
    #[test]
    fn the_published_designs_run_the_builds_for_known_sizes_four_blocks_to_an_sm() {
        let cpu = (Kind::Float, Device::Cpu);
        for variant in [Variant::R, Variant::T] {
            let config = GeneratorConfig::published(variant, 1024).expect("the design");
            for plan in config.layers.iter().filter(|l| !l.to_rgb) {
                let down = if plan.down_radial {
                    Tensor::ones([plan.down_taps, plan.down_taps], cpu)
                } else {
                    Tensor::ones([plan.down_taps], cpu)
                };
                let taps = KernelTaps::new(&Tensor::ones([plan.up_taps], cpu), &down, Device::Cpu);
                // One channel: a block's needs do not depend on the count.
                let x = Tensor::zeros([1, 1, plan.in_size, plan.in_size], cpu);
                let bias = Tensor::zeros([1], cpu);
                let activation = Activation {
                    up: plan.up,
                    down: plan.down,
                    padding: plan.padding,
                    gain: 1.0,
                    slope: 0.2,
                    clamp: None,
                };
                let half = x.to_kind(Kind::Half);
                let input = FilteredLreluInput {
                    x: &x,
                    dgain: None,
                    bias: &bias,
                    taps: &taps,
                    activation: &activation,
                };
                // fp32, and fp16 with radial layers on the tensor cores.
                for (input, cores) in [
                    (&input, FilterCores::CudaCores),
                    (
                        &FilteredLreluInput { x: &half, ..input },
                        FilterCores::TensorCores,
                    ),
                ] {
                    let launch = plan_of(input, cores);
                    let p = &launch.params;
                    assert!(
                        launch.build != Build::General
                            && launch.tensor_cores
                                == (cores == FilterCores::TensorCores && plan.down_radial)
                            && (p.tile_h, p.tile_w) == (TILE, KNOWN_TILE_W)
                            && launch.shared_bytes * 4 <= 228 * 1024,
                        "{variant:?} {} {cores:?}: {:?}, {} × {} tile, {} bytes",
                        plan.name,
                        launch.build,
                        p.tile_h,
                        p.tile_w,
                        launch.shared_bytes
                    );
                }
            }
        }
    }

    fn plan_of(input: &FilteredLreluInput, cores: FilterCores) -> Launch {
        plan(input, cores).expect("a launch")
    }

    /// Every layer of the R and T designs, with filters of the design's sizes and of one tap
    /// more (up-sampling by 2 and 4, separable and radial down filters, margins cropped and
    /// padded, maps of one and of several tiles, partial tiles): the kernel built for the CPU
    /// against the operator route, fp32 (NCHW and NHWC input) and fp16 (radial layers' radial
    /// pass on the CUDA cores and on the tensor cores).
    #[test]
    fn the_kernel_matches_the_operators_on_every_layer_of_both_designs() {
        let _guard = tch::no_grad_guard();
        tch::manual_seed(3);
        let emulator = Emulator::get();
        let mut builds = std::collections::BTreeSet::new();
        for (variant, size) in [(Variant::R, 64), (Variant::T, 64), (Variant::R, 128)] {
            let (base, max) = match variant {
                Variant::T => (1024.0, 64.0),
                Variant::R => (2048.0, 128.0),
            };
            let config =
                GeneratorConfig::with_widths(variant, size, (32, 32), base, max).expect("a design");
            for plan in config.layers.iter().filter(|l| !l.to_rgb) {
                // Random taps rather than the designed (symmetric) filters, so that a flipped
                // or transposed filter shows.
                let random = |taps: i64, radial: bool| {
                    (taps > 1).then(|| {
                        let shape = if radial { vec![taps, taps] } else { vec![taps] };
                        Tensor::randn(shape, (Kind::Float, Device::Cpu)) / taps as f64
                    })
                };
                // The design's sizes (the builds made for them) and one tap more (the general
                // build).
                for extra in [0, 1] {
                    let fu = random(plan.up_taps + extra, false);
                    let fd = random(plan.down_taps + extra, plan.down_radial);
                    let activation = Activation {
                        up: plan.up,
                        down: plan.down,
                        padding: plan.padding,
                        gain: std::f64::consts::SQRT_2,
                        slope: 0.2,
                        clamp: Some(1.5),
                    };
                    let c = 3;
                    let x = Tensor::randn(
                        [2, c, plan.in_size, plan.in_size],
                        (Kind::Float, Device::Cpu),
                    );
                    let bias = Tensor::randn([c], (Kind::Float, Device::Cpu)) * 0.3;
                    let dgain = Tensor::rand([2, c], (Kind::Float, Device::Cpu)) + 0.5;
                    let scaled = &x * dgain.view([2, c, 1, 1]);
                    let expected =
                        filtered_lrelu(&scaled, fu.as_ref(), fd.as_ref(), &bias, &activation);
                    let one = Tensor::ones([1], (Kind::Float, Device::Cpu));
                    let up_taps = fu.as_ref().map_or(one.shallow_clone(), |f| {
                        kernel_taps_of(f, (plan.up * plan.up) as f64)
                    });
                    let down_taps = fd.as_ref().map_or(one, |f| kernel_taps_of(f, 1.0));
                    let taps = KernelTaps::new(&up_taps, &down_taps, Device::Cpu);
                    for (kind, channels_last, cores) in [
                        (Kind::Float, false, FilterCores::CudaCores),
                        (Kind::Float, true, FilterCores::CudaCores),
                        (Kind::Half, false, FilterCores::CudaCores),
                        (Kind::Half, false, FilterCores::TensorCores),
                    ] {
                        let input = x.to_kind(kind);
                        let input = if channels_last {
                            input
                                .permute([0, 2, 3, 1])
                                .contiguous()
                                .permute([0, 3, 1, 2])
                        } else {
                            input
                        };
                        let input = FilteredLreluInput {
                            x: &input,
                            dgain: Some(&dgain),
                            bias: &bias,
                            taps: &taps,
                            activation: &activation,
                        };
                        let launch = plan_of(&input, cores);
                        builds.insert(format!("{:?} {}", launch.build, launch.tensor_cores));
                        let got = emulator.run_with(&input, cores).expect("the kernel runs");
                        assert_eq!(got.size(), expected.size(), "{variant:?} {}", plan.name);
                        let diff = (got.to_kind(Kind::Float) - &expected)
                            .abs()
                            .max()
                            .double_value(&[]);
                        let tolerance = if kind == Kind::Half { 2e-2 } else { 1e-5 };
                        assert!(
                            diff < tolerance,
                            "{variant:?} {} {kind:?} {cores:?}: max |kernel − operators| = {diff}",
                            plan.name
                        );
                    }
                }
            }
        }
        // Every compiled build ran (the general one with the extra tap), and the tensor-core
        // pass in both of its builds.
        assert_eq!(
            builds.into_iter().collect::<Vec<_>>(),
            [
                "General false",
                "Up2 false",
                "Up2 true",
                "Up4 false",
                "Up4 true"
            ]
        );
    }

    /// The check every GPU runs when it loads the kernel passes the kernel (its CPU build here)
    /// and refuses one whose results are off by a few per cent or of the wrong shape.
    #[test]
    fn the_self_check_passes_the_kernel_and_refuses_a_wrong_one() {
        let emulator = Emulator::get();
        self_check(Device::Cpu, |input| emulator.run(input)).expect("the kernel passes");
        self_check(Device::Cpu, |input| {
            emulator.run_with(input, FilterCores::TensorCores)
        })
        .expect("the tensor-core builds pass");
        let off = self_check(Device::Cpu, |input| emulator.run(input).map(|t| t * 1.05));
        assert!(
            matches!(off, Err(KernelError::SelfCheck(ref what, diff, _)) if what.starts_with("Up2") && diff.is_finite()),
            "{off:?}"
        );
        let cropped = self_check(Device::Cpu, |input| {
            emulator.run(input).map(|t| t.narrow(3, 1, t.size()[3] - 1))
        });
        assert!(
            matches!(cropped, Err(KernelError::SelfCheck(_, diff, _)) if diff.is_infinite()),
            "{cropped:?}"
        );
    }

    /// The builds for known sizes on maps whose outputs leave odd-width and partial tiles
    /// (their radial pass computes outputs in pairs of columns and groups of four rows; on the
    /// tensor cores every pass covers a whole tile), on non-square maps, with both kinds of
    /// down-sampling filter.
    #[test]
    fn the_builds_for_known_sizes_handle_odd_and_partial_tiles() {
        let _guard = tch::no_grad_guard();
        tch::manual_seed(5);
        let cpu = (Kind::Float, Device::Cpu);
        let emulator = Emulator::get();
        for (up, build) in [(2, Build::Up2), (4, Build::Up4)] {
            let up_count = 6 * up;
            for radial in [true, false] {
                for (h, w) in [(23, 23), (41, 19), (7, 53)] {
                    // Padding that leaves an odd number of outputs.
                    let out = |n: i64, pad: i64| (n * up + pad - up_count + 1 - 12) / 2 + 1;
                    let pad = |n: i64| {
                        (up_count + 9..)
                            .find(|&pad| out(n, pad) % 2 == 1)
                            .expect("a padding")
                    };
                    let (pad_y, pad_x) = (pad(h), pad(w));
                    let activation = Activation {
                        up,
                        down: 2,
                        padding: [pad_x / 2, pad_x - pad_x / 2, pad_y / 2, pad_y - pad_y / 2],
                        gain: std::f64::consts::SQRT_2,
                        slope: 0.2,
                        clamp: Some(1.0),
                    };
                    let fu = Tensor::randn([up_count], cpu) / up_count as f64;
                    let fd = if radial {
                        Tensor::randn([12, 12], cpu) / 12.0
                    } else {
                        Tensor::randn([12], cpu) / 12.0
                    };
                    let taps = KernelTaps::new(
                        &kernel_taps_of(&fu, (up * up) as f64),
                        &kernel_taps_of(&fd, 1.0),
                        Device::Cpu,
                    );
                    let x = Tensor::randn([1, 2, h, w], cpu);
                    let bias = Tensor::randn([2], cpu) * 0.3;
                    let input = FilteredLreluInput {
                        x: &x,
                        dgain: None,
                        bias: &bias,
                        taps: &taps,
                        activation: &activation,
                    };
                    assert_eq!(plan_of(&input, FilterCores::CudaCores).build, build);
                    let expected = filtered_lrelu(&x, Some(&fu), Some(&fd), &bias, &activation);
                    let got = emulator.run(&input).expect("the kernel runs");
                    assert_eq!(got.size(), [1, 2, out(h, pad_y), out(w, pad_x)]);
                    assert_eq!(got.size(), expected.size());
                    let diff = (got - expected).abs().max().double_value(&[]);
                    assert!(
                        diff < 1e-5,
                        "{build:?} radial {radial} {h}×{w}: max |kernel − operators| = {diff}"
                    );
                    if radial {
                        let half = x.to_kind(Kind::Half);
                        let input = FilteredLreluInput { x: &half, ..input };
                        let launch = plan_of(&input, FilterCores::TensorCores);
                        assert!(launch.tensor_cores && launch.build == build);
                        let expected = filtered_lrelu(
                            &half.to_kind(Kind::Float),
                            Some(&fu),
                            Some(&fd),
                            &bias,
                            &activation,
                        );
                        let got = emulator
                            .run_with(&input, FilterCores::TensorCores)
                            .expect("the kernel runs");
                        let diff = (got.to_kind(Kind::Float) - expected)
                            .abs()
                            .max()
                            .double_value(&[]);
                        assert!(
                            diff < 2e-2,
                            "{build:?} on tensor cores {h}×{w}: max |kernel − operators| = {diff}"
                        );
                    }
                }
            }
        }
    }

    /// Filters too long for a 16×16 tile's samples in shared memory: the tile shrinks until
    /// they fit and the result is unchanged; a map too small for its filters is refused.
    #[test]
    fn long_filters_shrink_the_tile_and_tiny_maps_are_refused() {
        let _guard = tch::no_grad_guard();
        tch::manual_seed(4);
        let cpu = (Kind::Float, Device::Cpu);
        let activation = Activation {
            up: 2,
            down: 2,
            padding: [40, 41, 40, 41],
            gain: 1.0,
            slope: 0.2,
            clamp: None,
        };
        let fu = Tensor::randn([80], cpu) / 80.0;
        let fd = Tensor::randn([40, 40], cpu) / 40.0;
        let taps = KernelTaps::new(
            &kernel_taps_of(&fu, 4.0),
            &kernel_taps_of(&fd, 1.0),
            Device::Cpu,
        );
        let x = Tensor::randn([1, 2, 40, 40], cpu);
        let bias = Tensor::zeros([2], cpu);
        let input = FilteredLreluInput {
            x: &x,
            dgain: None,
            bias: &bias,
            taps: &taps,
            activation: &activation,
        };
        let launch = plan(&input, FilterCores::CudaCores).expect("a smaller tile fits");
        assert_eq!(launch.build, Build::General, "40 × 40 radial taps");
        assert!(
            launch.params.tile_h * launch.params.tile_w < TILE * TILE
                && launch.shared_bytes <= SHARED_LIMIT,
            "{:?}, {} bytes",
            launch.params,
            launch.shared_bytes
        );
        let expected = filtered_lrelu(&x, Some(&fu), Some(&fd), &bias, &activation);
        let got = Emulator::get().run(&input).expect("the kernel runs");
        let diff = (got - expected).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "max |kernel − operators| = {diff}");

        let tiny = Tensor::randn([1, 2, 4, 4], cpu);
        let cropping = Activation {
            padding: [-10, -10, -10, -10],
            ..activation
        };
        let refused = plan(
            &FilteredLreluInput {
                x: &tiny,
                activation: &cropping,
                ..input
            },
            FilterCores::CudaCores,
        );
        assert!(
            matches!(refused, Err(KernelError::Shape(_))),
            "{:?}",
            refused.err()
        );
    }
}
