//! The inference worker: batches jobs, matches direct synthesis, reports progress, cancels.

mod common;

use lifelapse::inference::{Engine, EngineError, EngineOptions, EngineStats};
use lifelapse::leaves::cancel::CancelToken;
use lifelapse::nets::import;
use std::sync::{Arc, Mutex};
use tch::{Device, Kind, Tensor};

fn engine(budget: u64) -> Engine {
    engine_counting(budget, Default::default())
}

fn engine_counting(budget: u64, stats: Arc<EngineStats>) -> Engine {
    let ckpt = import::open(&common::fixtures().join("psp_small.pt"), None).expect("open");
    Engine::start(
        ckpt,
        EngineOptions {
            device: Device::Cpu,
            half_on_cuda: true,
            memory_budget: budget,
        },
        stats,
    )
    .expect("engine")
}

fn codes(n: i64, seed: i64) -> Tensor {
    tch::manual_seed(seed);
    Tensor::randn([n, 10, 64], (Kind::Float, Device::Cpu)) * 0.1
}

#[test]
fn concurrent_jobs_share_batches_and_match_direct_synthesis() {
    // A budget that fits 3 frames of 64² per batch, so jobs are split and interleaved.
    let stats = Arc::new(EngineStats::default());
    let e = engine_counting(64 * 64 * 64 * 6 * 4 * 3, stats.clone());
    let (a, b) = (codes(7, 1), codes(5, 2));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let rx_a = e.submit_generate(
        a.shallow_clone(),
        Some(Box::new(move |done, total| {
            log.lock().unwrap().push((done, total))
        })),
        CancelToken::default(),
    );
    let rx_b = e.submit_generate(b.shallow_clone(), None, CancelToken::default());
    let (ia, ib) = (rx_a.recv().unwrap().unwrap(), rx_b.recv().unwrap().unwrap());
    assert_eq!(ia.size(), vec![7, 3, 64, 64]);
    assert_eq!(ib.size(), vec![5, 3, 64, 64]);

    let ckpt = import::open(&common::fixtures().join("psp_small.pt"), None).unwrap();
    let g = ckpt.build_generator(Device::Cpu, Kind::Float).unwrap();
    let direct = tch::no_grad(|| g.synthesis(&a));
    let diff = (&ia - &direct).abs().max().double_value(&[]);
    assert!(diff < 1e-4, "{diff}");
    let progress = seen.lock().unwrap().clone();
    assert_eq!(progress.last(), Some(&(7, 7)));
    assert!(progress.len() >= 2, "{progress:?}");

    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(stats.model_loads.load(Relaxed), 1);
    assert_eq!(stats.frames_generated.load(Relaxed), 12);
    assert_eq!(stats.queue_depth.load(Relaxed), 0);
    // 12 frames in batches of 3 (whether or not the jobs arrived together).
    assert!(stats.batches() >= 4, "{}", stats.prometheus());
    let text = stats.prometheus();
    assert!(
        text.contains("lifelapse_frames_generated_total 12"),
        "{text}"
    );
    assert!(text.contains("lifelapse_engine_batch_fill_count"), "{text}");
}

#[test]
fn encode_then_generate_reproduces_the_fixture() {
    let e = engine(1 << 30);
    let io: std::collections::BTreeMap<String, Tensor> =
        Tensor::read_safetensors(common::fixtures().join("psp_small_io.safetensors"))
            .unwrap()
            .into_iter()
            .collect();
    let codes = e.encode(io["input"].shallow_clone(), None).expect("encode");
    let diff = (&codes - &io["codes"]).abs().max().double_value(&[]);
    assert!(diff < 1e-5, "codes {diff}");
    let images = e
        .generate(codes, None, CancelToken::default())
        .expect("generate");
    let diff = (&images - &io["images"]).abs().max().double_value(&[]);
    assert!(diff < 1e-4, "images {diff}");
}

#[test]
fn a_cancelled_job_stops_and_bad_codes_are_refused() {
    let e = engine(1 << 30);
    let cancel = CancelToken::default();
    cancel.cancel();
    assert!(matches!(
        e.generate(codes(4, 3), None, cancel),
        Err(EngineError::Cancelled)
    ));
    assert!(matches!(
        e.generate(
            Tensor::zeros([2, 3, 64], (Kind::Float, Device::Cpu)),
            None,
            CancelToken::default()
        ),
        Err(EngineError::Input(_))
    ));
    // The worker is still serving.
    assert!(e
        .generate(codes(1, 4), None, CancelToken::default())
        .is_ok());
}
