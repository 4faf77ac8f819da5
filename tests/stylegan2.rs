//! The StyleGAN2 generator against tensors the reference implementation produced from the
//! random-weight checkpoint in ../shared/fixtures (its README states the tolerances).

mod common;

use common::parity::assert_close;
use lifelapse::nets::import::{self, CheckpointKind};
use lifelapse::nets::stylegan2::{self, Generator, GeneratorConfig, RunOptions};
use lifelapse::nets::tensor_set::TensorSet;
use tch::{Device, Kind, Tensor};

fn read(name: &str) -> TensorSet {
    common::parity::tensors(&common::fixtures().join(name))
}

/// The generator as a user gets it: through the import path, from the original `.pt`.
fn generator() -> (Generator, TensorSet) {
    let ckpt = import::open(&common::fixtures().join("g_small.pt"), None).expect("open g_small.pt");
    assert_eq!(ckpt.kind, CheckpointKind::Stylegan2);
    let config = ckpt
        .generator_shape
        .stylegan2()
        .expect("a StyleGAN2 generator");
    let g = Generator::new(&ckpt.generator, config, Device::Cpu, Kind::Float).expect("generator");
    (g, read("stylegan2_small_io.safetensors"))
}

#[test]
fn the_pt_and_safetensors_copies_read_the_same() {
    let pt = import::open(&common::fixtures().join("g_small.pt"), None).expect("pt");
    let st = read("g_small.safetensors").subset("g_ema");
    assert_eq!(pt.generator.len(), st.len());
    for (name, t) in st.iter() {
        let ours = pt.generator.get(name).expect(name);
        assert!(ours.equal(t), "{name} differs");
    }
    let avg = read("g_small.safetensors");
    assert!(pt
        .latent_avg
        .as_ref()
        .expect("latent_avg")
        .equal(avg.get("latent_avg").unwrap()));
}

#[test]
fn the_architecture_is_read_from_the_tensors() {
    let weights = read("g_small.safetensors").subset("g_ema");
    let config = GeneratorConfig::from_tensors(&weights, 0.01).expect("config");
    assert_eq!(config.size, 64);
    assert_eq!(config.style_dim, 64);
    assert_eq!(config.n_mlp, 2);
    assert_eq!(config.channels, vec![64, 64, 64, 64, 32]);
    assert_eq!(config.n_latent(), 10);
    assert_eq!(config.num_layers(), 9);
}

#[test]
fn ops_match_the_reference() {
    let io = read("stylegan2_small_io.safetensors");
    let x8 = io.get("op.x8").unwrap();
    let x17 = io.get("op.x17").unwrap();
    assert_close(
        "upsample",
        &stylegan2::upsample(x8),
        io.get("op.upsample_x8").unwrap(),
        1e-6,
    );
    assert_close(
        "downsample",
        &stylegan2::downsample(x8),
        io.get("op.downsample_x8").unwrap(),
        1e-6,
    );
    assert_close(
        "blur",
        &stylegan2::blur_after_transposed(x17),
        io.get("op.blur_up_x17").unwrap(),
        1e-6,
    );
    assert_close(
        "leaky relu",
        &stylegan2::leaky_relu_with_bias(
            io.get("op.lrelu_x").unwrap(),
            io.get("op.lrelu_bias").unwrap(),
        ),
        io.get("op.fused_leaky_relu").unwrap(),
        1e-6,
    );
}

#[test]
fn mapping_matches_the_reference() {
    let (g, io) = generator();
    assert_close(
        "w",
        &g.mapping(io.get("z").unwrap()),
        io.get("w").unwrap(),
        1e-5,
    );
    assert_close(
        "w2",
        &g.mapping(io.get("z2").unwrap()),
        io.get("w2").unwrap(),
        1e-5,
    );
    let wplus = g.mapping(io.get("wplus_z").unwrap()).view([2, 10, 64]);
    assert_close("wplus", &wplus, io.get("wplus").unwrap(), 1e-5);
}

#[test]
fn synthesis_matches_the_reference_layer_by_layer() {
    let (g, io) = generator();
    let wplus = io.get("wplus").unwrap();
    let mut checked = 0;
    let image = g.synthesis_traced(wplus, |name, x| {
        let key = format!("inter.{name}");
        if let Ok(reference) = io.get(&key) {
            assert_close(&key, x, reference, 1e-4);
            checked += 1;
        }
    });
    assert_eq!(checked, 15, "every stored intermediate was compared");
    assert_close("img_wplus", &image, io.get("img_wplus").unwrap(), 1e-4);
}

#[test]
fn z_truncation_and_style_mixing_match_the_reference() {
    let (g, io) = generator();
    let avg = io.get("latent_avg").unwrap();
    let w = g.mapping(io.get("z").unwrap());
    let latents = g.mix(&w, None, 0);
    assert_close("latents_z", &latents, io.get("latents_z").unwrap(), 1e-5);
    assert_close(
        "img_z",
        &g.synthesis(&latents),
        io.get("img_z").unwrap(),
        1e-4,
    );

    let truncated = g.mix(&Generator::truncate(&w, avg, 0.7), None, 0);
    assert_close(
        "latents_z_trunc0.7",
        &truncated,
        io.get("latents_z_trunc0.7").unwrap(),
        1e-5,
    );
    assert_close(
        "img_z_trunc0.7",
        &g.synthesis(&truncated),
        io.get("img_z_trunc0.7").unwrap(),
        1e-4,
    );

    let mixed = g.mix(io.get("w").unwrap(), Some(io.get("w2").unwrap()), 4);
    assert_close(
        "latents_mix",
        &mixed,
        io.get("latents_mix_w_w2_inject4").unwrap(),
        1e-6,
    );
    assert_close(
        "img_mix",
        &g.synthesis(&mixed),
        io.get("img_mix_w_w2_inject4").unwrap(),
        1e-4,
    );
}

#[test]
fn random_config_f_weights_build_a_generator() {
    let config = GeneratorConfig {
        size: 32,
        ..GeneratorConfig::config_f(32)
    };
    let weights = config.random_weights(1);
    let read_back = GeneratorConfig::from_tensors(&weights, 0.01).expect("config");
    assert_eq!(read_back, config);
    let g = Generator::new(&weights, &config, Device::Cpu, Kind::Float).expect("generator");
    let z = Tensor::randn([2, 512], (Kind::Float, Device::Cpu));
    let images = g.synthesis(&g.mix(&g.mapping(&z), None, 0));
    assert_eq!(images.size(), vec![2, 3, 32, 32]);
    assert!(images.isfinite().all().int64_value(&[]) == 1);
}

#[test]
fn every_way_of_running_the_generator_matches_the_reference() {
    let ckpt = import::open(&common::fixtures().join("g_small.pt"), None).expect("open");
    let io = read("stylegan2_small_io.safetensors");
    for (fuse, polyphase) in [(0, false), (i64::MAX, false), (i64::MAX, true)] {
        let options = RunOptions {
            fuse_up_max_channels: fuse,
            polyphase,
            ..RunOptions::default()
        };
        let g = Generator::with_options(
            &ckpt.generator,
            ckpt.generator_shape.stylegan2().expect("StyleGAN2"),
            Device::Cpu,
            Kind::Float,
            options,
        )
        .unwrap();
        let image = g.synthesis(io.get("wplus").unwrap());
        assert_close(
            &format!("{options:?}"),
            &image,
            io.get("img_wplus").unwrap(),
            1e-4,
        );
    }
}

/// The fused-kernel route's bookkeeping (styles, demodulation, the plain transposed up-sampling,
/// the order of layers and to-RGBs) with its epilogues computed by operators, against the
/// reference; on a GPU the benchmark checks the kernels against the operators.
#[test]
fn the_fused_route_matches_the_reference() {
    let ckpt = import::open(&common::fixtures().join("g_small.pt"), None).expect("open");
    let io = read("stylegan2_small_io.safetensors");
    let g = Generator::new(
        &ckpt.generator,
        ckpt.generator_shape.stylegan2().expect("StyleGAN2"),
        Device::Cpu,
        Kind::Float,
    )
    .unwrap();
    assert!(!g.uses_fused_kernels(), "the kernels run only on CUDA");
    let image = g.synthesis_fused_reference(io.get("wplus").unwrap());
    assert_close("fused route", &image, io.get("img_wplus").unwrap(), 1e-4);
}
