//! The inference worker: one thread that owns the compute device and the generative networks,
//! takes encode and generate jobs over a channel, batches their items up to a memory budget,
//! reports progress and honours cancellation between batches.
//!
//! Callers never touch a tensor on the device: they send CPU tensors and get CPU tensors back
//! through a reply channel, so async code can await the reply (or poll it) without blocking
//! its runtime on inference.

mod resident;

pub use resident::Resident;

use crate::leaves::cancel::CancelToken;
use crate::nets::generative::{Family, Generator, Shape};
use crate::nets::import::{Checkpoint, Encoder, ImportError};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use tch::{Device, Kind, Tensor};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Checkpoint(#[from] ImportError),
    #[error("the job was cancelled")]
    Cancelled,
    #[error("the inference worker stopped")]
    Stopped,
    #[error("bad input: {0}")]
    Input(String),
    #[error("cannot start the inference worker")]
    Spawn(#[source] std::io::Error),
}

/// Progress of a job: items done so far, of the total.
pub type Progress = Box<dyn Fn(usize, usize) + Send>;

enum Job {
    Encode {
        /// [N, 3, 256, 256] in −1…1, on the CPU.
        images: Tensor,
        /// ReStyle's rounds of refinement (`None`: the encoder's default).
        rounds: Option<usize>,
        reply: Sender<Result<Tensor, EngineError>>,
    },
    Generate {
        /// [N, n_latent, style_dim] on the CPU.
        w_plus: Tensor,
        reply: Sender<Result<Tensor, EngineError>>,
        progress: Option<Progress>,
        cancel: CancelToken,
    },
}

/// What the workers of a process have done, for `/metrics`. Shared by every engine started
/// with it.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Checkpoints loaded onto a device.
    pub model_loads: AtomicU64,
    pub frames_generated: AtomicU64,
    /// Generate jobs waiting for or in the worker.
    pub queue_depth: AtomicI64,
    /// Generator batches by how full they were: counts per [`BATCH_FILL_BOUNDS`] bucket (the
    /// last bucket is the whole batch), and the sum of the fill fractions.
    pub batch_fill: [AtomicU64; BATCH_FILL_BOUNDS.len()],
    pub batch_fill_sum_permille: AtomicU64,
}

/// Upper bounds of the batch-fill histogram's buckets, as fractions of a full batch.
pub const BATCH_FILL_BOUNDS: [f64; 4] = [0.25, 0.5, 0.75, 1.0];

impl EngineStats {
    fn record_batch(&self, filled: usize, batch: usize) {
        let fill = filled as f64 / batch.max(1) as f64;
        let bucket = BATCH_FILL_BOUNDS
            .iter()
            .position(|&b| fill <= b)
            .unwrap_or(BATCH_FILL_BOUNDS.len() - 1);
        self.batch_fill[bucket].fetch_add(1, Ordering::Relaxed);
        self.batch_fill_sum_permille
            .fetch_add((fill * 1000.0).round() as u64, Ordering::Relaxed);
        self.frames_generated
            .fetch_add(filled as u64, Ordering::Relaxed);
    }

    /// The batches recorded so far.
    pub fn batches(&self) -> u64 {
        self.batch_fill
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .sum()
    }

    /// The statistics in Prometheus' text format.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, help: &str, kind: &str, value: String| {
            out.push_str(&format!(
                "# HELP {name} {help}.\n# TYPE {name} {kind}\n{name} {value}\n"
            ));
        };
        metric(
            "lifelapse_model_loads_total",
            "Generative checkpoints loaded onto a device",
            "counter",
            self.model_loads.load(Ordering::Relaxed).to_string(),
        );
        metric(
            "lifelapse_frames_generated_total",
            "Frames made by the generator",
            "counter",
            self.frames_generated.load(Ordering::Relaxed).to_string(),
        );
        metric(
            "lifelapse_engine_queue_depth",
            "Generate jobs waiting for or in the inference worker",
            "gauge",
            self.queue_depth.load(Ordering::Relaxed).to_string(),
        );
        out.push_str(
            "# HELP lifelapse_engine_batch_fill How full each generator batch was (fraction).\n\
             # TYPE lifelapse_engine_batch_fill histogram\n",
        );
        let mut cumulative = 0;
        for (bound, count) in BATCH_FILL_BOUNDS.iter().zip(&self.batch_fill) {
            cumulative += count.load(Ordering::Relaxed);
            out.push_str(&format!(
                "lifelapse_engine_batch_fill_bucket{{le=\"{bound}\"}} {cumulative}\n"
            ));
        }
        out.push_str(&format!(
            "lifelapse_engine_batch_fill_bucket{{le=\"+Inf\"}} {cumulative}\n\
             lifelapse_engine_batch_fill_sum {:.3}\n\
             lifelapse_engine_batch_fill_count {cumulative}\n",
            self.batch_fill_sum_permille.load(Ordering::Relaxed) as f64 / 1000.0
        ));
        out
    }
}

/// How the worker runs.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    pub device: Device,
    /// fp16 on CUDA (its parity with fp32 is measured in docs/performance.md); the CPU always
    /// runs fp32.
    pub half_on_cuda: bool,
    /// Device memory the activations of one batch may take, in bytes.
    pub memory_budget: u64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            half_on_cuda: true,
            memory_budget: 2 << 30,
        }
    }
}

/// A handle to the worker thread; dropping the last handle stops it.
#[derive(Clone)]
pub struct Engine {
    jobs: Sender<Job>,
    resolution: i64,
    n_latent: i64,
    style_dim: i64,
    batch: usize,
    stats: Arc<EngineStats>,
}

fn kind_for(options: &EngineOptions) -> Kind {
    match options.device {
        Device::Cuda(_) if options.half_on_cuda => Kind::Half,
        _ => Kind::Float,
    }
}

/// Frames per batch so that the largest activations of a batch stay within the budget: the
/// output resolution at the narrowest width (≥ 32 channels), a few tensors alive at once.
/// StyleGAN3 applies its leaky ReLU at twice the sampling rate along each axis, so its largest
/// maps hold four times the samples.
pub fn generator_batch(shape: &Shape, kind: Kind, budget: u64) -> usize {
    let resolution = shape.resolution();
    let bytes_per_value = if kind == Kind::Half { 2 } else { 4 };
    let up_sampled = match shape.family() {
        Family::Stylegan2 => 1,
        Family::Stylegan3 => 4,
    };
    let per_frame = (resolution * resolution * 64 * 6 * bytes_per_value * up_sampled).max(1) as u64;
    (budget / per_frame).clamp(1, 64) as usize
}

impl Engine {
    /// Starts the worker with the networks of `checkpoint`; returns once they are built on the
    /// device (or failed to build). The worker counts what it does in `stats`.
    pub fn start(
        checkpoint: Checkpoint,
        options: EngineOptions,
        stats: Arc<EngineStats>,
    ) -> Result<Self, EngineError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let resolution = checkpoint.resolution();
        let n_latent = checkpoint.generator_shape.n_latent() as i64;
        let style_dim = checkpoint.generator_shape.style_dim();
        let batch = generator_batch(
            &checkpoint.generator_shape,
            kind_for(&options),
            options.memory_budget,
        );
        let worker_stats = stats.clone();
        std::thread::Builder::new()
            .name("lifelapse-inference".into())
            .spawn(move || {
                let kind = kind_for(&options);
                let built = (|| -> Result<(Generator, Option<Encoder>), EngineError> {
                    let g = checkpoint.build_generator(options.device, kind)?;
                    let e = match checkpoint.encoder {
                        Some(_) => Some(checkpoint.build_encoder(options.device, kind)?),
                        None => None,
                    };
                    Ok((g, e))
                })();
                drop(checkpoint);
                match built {
                    Ok((generator, encoder)) => {
                        let _ = ready_tx.send(Ok(()));
                        worker(queue, generator, encoder, options, kind, &worker_stats);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(EngineError::Spawn)?;
        ready_rx.recv().map_err(|_| EngineError::Stopped)??;
        stats.model_loads.fetch_add(1, Ordering::Relaxed);
        Ok(Self {
            jobs,
            resolution,
            n_latent,
            style_dim,
            batch,
            stats,
        })
    }

    /// Frames the worker generates in one batch.
    pub fn batch(&self) -> usize {
        self.batch
    }

    pub fn resolution(&self) -> i64 {
        self.resolution
    }

    pub fn n_latent(&self) -> i64 {
        self.n_latent
    }

    /// Queues an encode job: images [N, 3, 256, 256] in −1…1 → W+ [N, n_latent, style_dim],
    /// with `rounds` of refinement for an iterative (ReStyle) encoder.
    pub fn submit_encode(
        &self,
        images: Tensor,
        rounds: Option<usize>,
    ) -> Receiver<Result<Tensor, EngineError>> {
        let (reply, rx) = mpsc::channel();
        if let Err(mpsc::SendError(Job::Encode { reply, .. })) = self.jobs.send(Job::Encode {
            images,
            rounds,
            reply,
        }) {
            let _ = reply.send(Err(EngineError::Stopped));
        }
        rx
    }

    /// Queues a generate job: W+ [N, n_latent, style_dim] → images [N, 3, H, W] (raw, float).
    pub fn submit_generate(
        &self,
        w_plus: Tensor,
        progress: Option<Progress>,
        cancel: CancelToken,
    ) -> Receiver<Result<Tensor, EngineError>> {
        let (reply, rx) = mpsc::channel();
        let size = w_plus.size();
        if size.len() != 3 || size[1] != self.n_latent || size[2] != self.style_dim {
            let _ = reply.send(Err(EngineError::Input(format!(
                "W+ codes of shape {size:?}; this generator takes [N, {}, {}]",
                self.n_latent, self.style_dim
            ))));
            return rx;
        }
        let job = Job::Generate {
            w_plus,
            reply,
            progress,
            cancel,
        };
        self.stats.queue_depth.fetch_add(1, Ordering::Relaxed);
        if let Err(mpsc::SendError(Job::Generate { reply, .. })) = self.jobs.send(job) {
            self.stats.queue_depth.fetch_sub(1, Ordering::Relaxed);
            let _ = reply.send(Err(EngineError::Stopped));
        }
        rx
    }

    /// [`Engine::submit_encode`] and wait.
    pub fn encode(&self, images: Tensor, rounds: Option<usize>) -> Result<Tensor, EngineError> {
        self.submit_encode(images, rounds)
            .recv()
            .map_err(|_| EngineError::Stopped)?
    }

    /// [`Engine::submit_generate`] and wait.
    pub fn generate(
        &self,
        w_plus: Tensor,
        progress: Option<Progress>,
        cancel: CancelToken,
    ) -> Result<Tensor, EngineError> {
        self.submit_generate(w_plus, progress, cancel)
            .recv()
            .map_err(|_| EngineError::Stopped)?
    }
}

/// The worker loop: takes every job waiting, encodes first (they are small and others wait on
/// them), then generates all waiting jobs' frames in shared batches.
fn worker(
    queue: Receiver<Job>,
    generator: Generator,
    encoder: Option<Encoder>,
    options: EngineOptions,
    kind: Kind,
    stats: &EngineStats,
) {
    let _guard = tch::no_grad_guard();
    let batch = generator_batch(generator.shape(), kind, options.memory_budget);
    while let Ok(first) = queue.recv() {
        let mut waiting = vec![first];
        waiting.extend(queue.try_iter());
        let mut generates = Vec::new();
        for job in waiting {
            match job {
                Job::Encode {
                    images,
                    rounds,
                    reply,
                } => {
                    let result = match &encoder {
                        Some(e) => {
                            let run = EncodeRun {
                                generator: &generator,
                                rounds,
                                device: options.device,
                                kind,
                                batch: batch.max(4),
                            };
                            encode_all(e, &images, &run)
                        }
                        None => Err(EngineError::Input(
                            "this checkpoint holds no encoder; import a pSp, e4e or ReStyle checkpoint"
                                .into(),
                        )),
                    };
                    let _ = reply.send(result);
                }
                g @ Job::Generate { .. } => generates.push(g),
            }
        }
        generate_all(&generator, generates, batch, stats);
    }
}

/// How an encode job runs.
struct EncodeRun<'a> {
    /// The checkpoint's generator (ReStyle reads its reconstructions).
    generator: &'a Generator,
    rounds: Option<usize>,
    device: Device,
    kind: Kind,
    batch: usize,
}

fn encode_all(encoder: &Encoder, images: &Tensor, run: &EncodeRun) -> Result<Tensor, EngineError> {
    let n = images.size().first().copied().unwrap_or(0);
    let mut out = Vec::new();
    let mut start = 0;
    while start < n {
        let len = (run.batch as i64).min(n - start);
        let x = images
            .narrow(0, start, len)
            .to_device(run.device)
            .to_kind(run.kind);
        out.push(
            encoder
                .encode_traced(&x, run.generator, run.rounds, |_| {})
                .to_kind(Kind::Float)
                .to_device(Device::Cpu),
        );
        start += len;
    }
    if out.is_empty() {
        return Err(EngineError::Input("no images to encode".into()));
    }
    Ok(Tensor::cat(&out, 0))
}

/// One job's share of the shared batches.
struct Pending {
    w_plus: Tensor,
    done: i64,
    total: i64,
    images: Vec<Tensor>,
    reply: Sender<Result<Tensor, EngineError>>,
    progress: Option<Progress>,
    cancel: CancelToken,
}

fn generate_all(generator: &Generator, jobs: Vec<Job>, batch: usize, stats: &EngineStats) {
    let mut pending: Vec<Pending> = jobs
        .into_iter()
        .filter_map(|job| match job {
            Job::Generate {
                w_plus,
                reply,
                progress,
                cancel,
            } => Some(Pending {
                total: w_plus.size()[0],
                w_plus,
                done: 0,
                images: Vec::new(),
                reply,
                progress,
                cancel,
            }),
            Job::Encode { .. } => None,
        })
        .collect();
    loop {
        // Drop cancelled jobs; finish completed ones.
        pending.retain(|p| {
            if p.cancel.is_cancelled() {
                stats.queue_depth.fetch_sub(1, Ordering::Relaxed);
                let _ = p.reply.send(Err(EngineError::Cancelled));
                return false;
            }
            true
        });
        let mut i = 0;
        while i < pending.len() {
            if pending[i].done >= pending[i].total {
                let p = pending.remove(i);
                stats.queue_depth.fetch_sub(1, Ordering::Relaxed);
                let result = if p.images.is_empty() {
                    Err(EngineError::Input("no codes to generate".into()))
                } else {
                    Ok(Tensor::cat(&p.images, 0))
                };
                let _ = p.reply.send(result);
            } else {
                i += 1;
            }
        }
        if pending.is_empty() {
            return;
        }
        // Fill one batch from the jobs in turn, so a long job does not starve a short one.
        let mut parts = Vec::new();
        let mut room = batch as i64;
        for (k, p) in pending.iter().enumerate() {
            if room == 0 {
                break;
            }
            let len = room.min(p.total - p.done);
            parts.push((k, p.done, len));
            room -= len;
        }
        let codes: Vec<Tensor> = parts
            .iter()
            .map(|&(k, start, len)| pending[k].w_plus.narrow(0, start, len))
            .collect();
        let images = generator
            .synthesis(&Tensor::cat(&codes, 0))
            .to_kind(Kind::Float)
            .to_device(Device::Cpu);
        stats.record_batch(batch - room as usize, batch);
        let mut offset = 0;
        for (k, _, len) in parts {
            let p = &mut pending[k];
            p.images.push(images.narrow(0, offset, len));
            offset += len;
            p.done += len;
            if let Some(progress) = &p.progress {
                progress(p.done as usize, p.total as usize);
            }
        }
    }
}

/// The engine as the generative renderer sees it.
impl crate::lapse::latent::Generative for Engine {
    fn encode(
        &self,
        images: Tensor,
        rounds: Option<usize>,
    ) -> Result<Tensor, crate::lapse::LapseError> {
        Engine::encode(self, images, rounds).map_err(Into::into)
    }

    fn generate(
        &self,
        w_plus: Tensor,
        cancel: CancelToken,
    ) -> Result<Tensor, crate::lapse::LapseError> {
        Engine::generate(self, w_plus, None, cancel).map_err(Into::into)
    }

    fn batch(&self) -> usize {
        Engine::batch(self)
    }
}

impl From<EngineError> for crate::lapse::LapseError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Cancelled => Self::Cancelled,
            other => Self::Inference(Box::new(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::{stylegan2, stylegan3};

    #[test]
    fn a_stylegan3_batch_leaves_room_for_its_up_sampled_maps() {
        let budget = 2 << 30;
        let sg2 = Shape::Stylegan2(stylegan2::GeneratorConfig::config_f(1024));
        let sg3 = Shape::Stylegan3(
            stylegan3::GeneratorConfig::published(stylegan3::Variant::R, 1024).expect("config"),
        );
        let (a, b) = (
            generator_batch(&sg2, Kind::Half, budget),
            generator_batch(&sg3, Kind::Half, budget),
        );
        assert_eq!((a, b), (2, 1));
        // Four times the budget gives StyleGAN3 the batch StyleGAN2 gets.
        assert_eq!(
            generator_batch(&sg3, Kind::Half, 16 << 30),
            generator_batch(&sg2, Kind::Half, 4 << 30)
        );
        assert_eq!(generator_batch(&sg3, Kind::Half, 16 << 30), 5);
    }
}
