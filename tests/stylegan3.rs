//! The StyleGAN3 generator (R and T configurations) against tensors NVIDIA's reference code
//! produced from the random-weight generators in ../shared/fixtures/sg3 (its README states the
//! tolerances used here).

mod common;

use common::parity::{assert_close, max_diff};
use lifelapse::nets::stylegan3::{self, Design, Generator, GeneratorConfig, Variant};
use lifelapse::nets::tensor_set::TensorSet;
use std::path::PathBuf;
use tch::{Device, Kind, Tensor};

fn sg3(name: &str) -> PathBuf {
    common::fixtures().join("sg3").join(name)
}

fn read(name: &str) -> TensorSet {
    common::parity::tensors(&sg3(name))
}

/// The JSON metadata entry `key` of a safetensors fixture.
fn metadata(name: &str, key: &str) -> serde_json::Value {
    let bytes = std::fs::read(sg3(name)).expect("fixture");
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).expect("header");
    let text = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(key))
        .expect(key);
    serde_json::from_str(text).expect("json")
}

/// The `G_ema` state dict as the fixture stores it, and its config read from the tensors with
/// the stored constructor arguments.
fn generator(stem: &str) -> (Generator, TensorSet) {
    let weights = read(&format!("{stem}_G_ema.safetensors"));
    let kwargs = metadata(&format!("{stem}_G_ema.safetensors"), "init_kwargs");
    let design = Design::from_init_kwargs(kwargs.as_object().expect("kwargs"));
    let config = GeneratorConfig::from_tensors(&weights, design).expect("config");
    let g = Generator::new(&weights, &config, Device::Cpu, Kind::Float).expect("generator");
    (g, read(&format!("{stem}_io.safetensors")))
}

const STEMS: [&str; 2] = ["sg3_r64_small", "sg3_t64_small"];

#[test]
fn the_layer_table_follows_the_design_for_r_and_t() {
    for stem in STEMS {
        let file = format!("{stem}_G_ema.safetensors");
        let config =
            GeneratorConfig::from_tensors(&read(&file), Design::default()).expect("config");
        let table = metadata(&file, "layers");
        let table = table.as_array().expect("layers");
        let input = &table[0];
        assert_eq!(input["size"][0].as_i64(), Some(config.input.size), "{stem}");
        assert_eq!(input["channels"].as_i64(), Some(config.input.channels));
        assert_eq!(
            input["sampling_rate"].as_f64(),
            Some(config.input.sampling_rate)
        );
        assert_eq!(input["bandwidth"].as_f64(), Some(config.input.bandwidth));
        assert_eq!(table.len(), config.layers.len() + 1);
        for (row, plan) in table[1..].iter().zip(&config.layers) {
            let name = &plan.name;
            assert_eq!(row["name"].as_str(), Some(name.as_str()), "{stem}");
            assert_eq!(row["in_size"][0].as_i64(), Some(plan.in_size), "{name}");
            assert_eq!(row["out_size"][0].as_i64(), Some(plan.out_size), "{name}");
            assert_eq!(
                row["in_channels"].as_i64(),
                Some(plan.in_channels),
                "{name}"
            );
            assert_eq!(row["up_factor"].as_i64(), Some(plan.up), "{name}");
            assert_eq!(row["down_factor"].as_i64(), Some(plan.down), "{name}");
            assert_eq!(row["up_taps"].as_i64(), Some(plan.up_taps), "{name}");
            assert_eq!(row["down_taps"].as_i64(), Some(plan.down_taps), "{name}");
            assert_eq!(
                row["down_radial"].as_bool(),
                Some(plan.down_radial),
                "{name}"
            );
            assert_eq!(row["is_torgb"].as_bool(), Some(plan.to_rgb), "{name}");
            let padding: Vec<i64> = row["padding"]
                .as_array()
                .expect("padding")
                .iter()
                .filter_map(|v| v.as_i64())
                .collect();
            assert_eq!(padding, plan.padding.to_vec(), "{name}");
            for (key, ours) in [
                ("in_cutoff", plan.in_cutoff),
                ("out_cutoff", plan.out_cutoff),
                ("out_half_width", plan.out_half_width),
                ("tmp_sampling_rate", plan.tmp_sampling_rate),
            ] {
                let theirs = row[key].as_f64().expect(key);
                assert!(
                    (theirs - ours).abs() < 1e-9,
                    "{name} {key}: {ours} vs {theirs}"
                );
            }
        }
        assert_eq!(config.num_ws(), 16);
    }
}

#[test]
fn a_generator_whose_names_break_the_design_is_refused() {
    let weights = read("sg3_r64_small_G_ema.safetensors");
    let wide_margin = Design {
        margin_size: 12,
        ..Design::default()
    };
    let err = GeneratorConfig::from_tensors(&weights, wide_margin).expect_err("refused");
    assert!(err.to_string().contains("L0_36_128"), "{err}");
}

#[test]
fn designed_filters_match_the_checkpoints() {
    // T's first layer: 12 taps, cutoff 2, transition 12, at 32 samples per unit.
    let weights = read("sg3_t64_small_G_ema.safetensors");
    let config = GeneratorConfig::from_tensors(&weights, Design::default()).expect("config");
    for plan in &config.layers[..3] {
        let ours = stylegan3::lowpass(
            plan.up_taps,
            plan.in_cutoff,
            plan.in_half_width * 2.0,
            plan.tmp_sampling_rate,
        );
        let theirs = weights
            .get(&format!("synthesis.{}.up_filter", plan.name))
            .unwrap();
        assert_close(&plan.name, &ours, theirs, 1e-6);
    }
}

#[test]
fn filter_ops_match_the_reference() {
    for stem in STEMS {
        let io = read(&format!("{stem}_io.safetensors"));
        let get = |k: &str| io.get(k).unwrap();
        let x = get("op.upfirdn_x");
        let (f2, f1) = (get("op.upfirdn_f2d"), get("op.upfirdn_f1d"));
        let cases = [
            (
                "up2_pad",
                stylegan3::upfirdn2d(x, Some(f2), 2, 1, [3, 2, -1, 4], 4.0, false),
            ),
            (
                "down2",
                stylegan3::upfirdn2d(x, Some(f2), 1, 2, [1, 1, 2, 0], 1.0, false),
            ),
            (
                "down2_flip",
                stylegan3::upfirdn2d(x, Some(f2), 1, 2, [1, 1, 2, 0], 1.0, true),
            ),
            (
                "up3_down2",
                stylegan3::upfirdn2d(x, Some(f1), 3, 2, [2, -1, 0, 3], 1.0, false),
            ),
        ];
        for (name, ours) in cases {
            let key = match name {
                "up2_pad" => "op.upfirdn_2d_up2_pad",
                "down2" => "op.upfirdn_2d_down2",
                "down2_flip" => "op.upfirdn_2d_down2_flip",
                _ => "op.upfirdn_1d_up3_down2",
            };
            assert_close(&format!("{stem} {name}"), &ours, get(key), 1e-5);
        }
        let config = GeneratorConfig::from_tensors(
            &read(&format!("{stem}_G_ema.safetensors")),
            Design::default(),
        )
        .expect("config");
        let padding = config.layers[4].padding;
        for (clamp, key) in [
            (Some(256.0), "op.flrelu_out"),
            (None, "op.flrelu_out_noclamp"),
        ] {
            let reference = get(key);
            let activation = stylegan3::Activation {
                up: 4,
                down: 2,
                padding,
                gain: std::f64::consts::SQRT_2,
                slope: 0.2,
                clamp,
            };
            let ours = stylegan3::filtered_lrelu(
                get("op.flrelu_x"),
                Some(get("op.flrelu_fu")),
                Some(get("op.flrelu_fd")),
                get("op.flrelu_b"),
                &activation,
            );
            let absmax = reference.abs().max().double_value(&[]);
            assert_close(&format!("{stem} {key}"), &ours, reference, 1e-6 * absmax);
        }
    }
}

#[test]
fn mapping_and_truncation_match_the_reference() {
    for stem in STEMS {
        let (g, io) = generator(stem);
        let z = io.get("z").unwrap();
        assert_close("w_avg", g.w_avg(), io.get("w_avg").unwrap(), 0.0);
        for (key, psi, cutoff) in [
            ("ws_psi1", 1.0, None),
            ("ws_psi0.7", 0.7, None),
            ("ws_psi0.7_cutoff8", 0.7, Some(8)),
        ] {
            let ws = g.ws(z, psi, cutoff);
            assert_close(&format!("{stem} {key}"), &ws, io.get(key).unwrap(), 1e-5);
        }
        let wplus = g.mapping(io.get("wplus_z").unwrap()).view([4, 16, -1]);
        assert_close(
            &format!("{stem} wplus"),
            &wplus,
            io.get("wplus").unwrap(),
            1e-5,
        );
    }
}

#[test]
fn synthesis_matches_the_reference_layer_by_layer() {
    for stem in STEMS {
        let (g, io) = generator(stem);
        let mut checked = 0;
        let image = g.synthesis_traced(io.get("wplus").unwrap(), None, |name, x| {
            let (key, tolerance) = match name {
                "input.affine" => (format!("inter.{name}"), 1e-5),
                n if n.starts_with("styles.") => (n.to_string(), 1e-5),
                n => (format!("inter.{n}"), 5e-5),
            };
            if let Ok(reference) = io.get(&key) {
                let n = reference.size()[0];
                assert_close(
                    &format!("{stem} {key}"),
                    &x.narrow(0, 0, n),
                    reference,
                    tolerance,
                );
                checked += 1;
            }
            if let Ok(reference) = io.get(&format!("inter_chmean.{name}")) {
                let mean = x.mean_dim([2, 3].as_slice(), false, Kind::Float);
                assert_close(&format!("{stem} chmean {name}"), &mean, reference, 2e-5);
                checked += 1;
            }
        });
        // input.affine, input, 5 layer outputs, 15 styles, 16 channel means.
        assert!(
            checked >= 15 + 15 + 5,
            "{stem}: only {checked} intermediates compared"
        );
        assert_close(
            &format!("{stem} img_wplus"),
            &image,
            io.get("img_wplus").unwrap(),
            2e-5,
        );
    }
}

#[test]
fn images_match_the_reference_with_truncation_and_interpolation() {
    for stem in STEMS {
        let (g, io) = generator(stem);
        for (ws, img) in [
            ("ws_psi1", "img_psi1"),
            ("ws_psi0.7", "img_psi0.7"),
            ("ws_interp", "img_interp"),
        ] {
            let image = g.synthesis(io.get(ws).unwrap());
            assert_close(&format!("{stem} {img}"), &image, io.get(img).unwrap(), 2e-5);
        }
    }
}

#[test]
fn a_user_transform_rotates_translates_and_scales_the_input() {
    let (g, io) = generator("sg3_r64_small");
    let ws = io.get("ws_psi1").unwrap();
    for (transform, img) in [
        ("transform_rot_trans", "img_transform_rot_trans"),
        ("transform_scaled", "img_transform_scaled"),
    ] {
        let image = g.synthesis_transformed(ws, io.get(transform).unwrap());
        assert_close(img, &image, io.get(img).unwrap(), 2e-5);
    }
    // T carries its transform in the checkpoint; it is used without being asked for.
    let (t, io) = generator("sg3_t64_small");
    let stored = t.synthesis(io.get("ws_psi1").unwrap());
    let identity = t.synthesis_transformed(
        io.get("ws_psi1").unwrap(),
        &Tensor::eye(3, (Kind::Float, Device::Cpu)),
    );
    assert!(
        max_diff(&stored, &identity) > 0.01,
        "the stored transform is in force"
    );
}

#[test]
fn published_configurations_build_from_random_weights() {
    for variant in [Variant::T, Variant::R] {
        let config = GeneratorConfig::published(variant, 256).expect("config");
        let weights = config.random_weights(3);
        let read_back = GeneratorConfig::from_tensors(&weights, Design::default()).expect("read");
        assert_eq!(read_back, config, "{variant:?}");
        assert_eq!(
            config.layers[0].out_channels,
            512 * if variant == Variant::R { 2 } else { 1 }
        );
    }
    // A small one runs end to end.
    let config = GeneratorConfig::published(Variant::T, 16).expect("config");
    let g = Generator::new(&config.random_weights(4), &config, Device::Cpu, Kind::Float)
        .expect("generator");
    let z = Tensor::randn([2, 512], (Kind::Float, Device::Cpu));
    let images = g.synthesis(&g.ws(&z, 1.0, None));
    assert_eq!(images.size(), vec![2, 3, 16, 16]);
    assert!(images.isfinite().all().int64_value(&[]) == 1);
}

/// The NVIDIA pickle as a user imports it: `G_ema` only, its constructor arguments read, its
/// embedded module source ignored.
#[test]
fn nvidia_pickles_import_and_generate_like_the_reference() {
    use lifelapse::nets::generative::Family;
    use lifelapse::nets::import::{self, CheckpointKind};
    for stem in STEMS {
        let ckpt = import::open(&sg3(&format!("{stem}.pkl")), None).expect("import the pickle");
        assert_eq!(ckpt.kind, CheckpointKind::Stylegan3, "{stem}");
        assert_eq!(ckpt.family(), Family::Stylegan3);
        assert_eq!(ckpt.resolution(), 64);
        let state = read(&format!("{stem}_G_ema.safetensors"));
        assert_eq!(
            ckpt.generator.len(),
            state.len(),
            "{stem}: G_ema's tensors only"
        );
        for (name, t) in state.iter() {
            assert!(
                ckpt.generator.get(name).expect(name).equal(t),
                "{stem} {name}"
            );
        }
        // The constructor arguments, compared by value (floats within parsing precision).
        let kwargs = metadata(&format!("{stem}_G_ema.safetensors"), "init_kwargs");
        let ours = ckpt.options.get("init_kwargs").expect("init_kwargs");
        let kwargs = kwargs.as_object().expect("object");
        assert_eq!(
            ours.as_object().expect("object").len(),
            kwargs.len(),
            "{stem}"
        );
        for (key, theirs) in kwargs {
            match (theirs.as_f64(), ours[key].as_f64()) {
                (Some(a), Some(b)) => assert!((a - b).abs() < 1e-12, "{stem} {key}"),
                _ => assert_eq!(&ours[key], theirs, "{stem} {key}"),
            }
        }
        let io = read(&format!("{stem}_io.safetensors"));
        assert!(ckpt
            .latent_avg
            .as_ref()
            .expect("w_avg")
            .equal(io.get("w_avg").unwrap()));

        // Imported into canonical form, it reads back and draws the same images.
        let dir = tempfile::tempdir().expect("dir");
        let entry = import::save(&ckpt, &sg3(&format!("{stem}.pkl")), dir.path()).expect("save");
        assert_eq!(
            (entry.kind, entry.family),
            (CheckpointKind::Stylegan3, Family::Stylegan3)
        );
        // The same checkpoint imports to the same bytes, so its manifest's sha256 names it.
        let again = tempfile::tempdir().expect("dir");
        for _ in 0..4 {
            let pickle = sg3(&format!("{stem}.pkl"));
            let reread = import::open(&pickle, None).expect("import the pickle again");
            let other = import::save(&reread, &pickle, again.path()).expect("save again");
            assert_eq!(other.sha256, entry.sha256, "{stem}: imported twice");
            assert_eq!(
                std::fs::read(again.path().join(&other.file)).expect("read"),
                std::fs::read(dir.path().join(&entry.file)).expect("read"),
                "{stem}"
            );
        }
        let back = import::open_imported(dir.path(), &entry).expect("reopen");
        assert_eq!(back.generator_shape, ckpt.generator_shape);
        let g = back
            .build_generator(Device::Cpu, Kind::Float)
            .expect("generator");
        let image = g.synthesis(io.get("wplus").unwrap());
        assert_close(
            &format!("{stem} imported"),
            &image,
            io.get("img_wplus").unwrap(),
            2e-5,
        );
    }
}

#[test]
fn a_truncated_pickle_is_refused() {
    let bytes = std::fs::read(sg3("sg3_t64_small.pkl")).expect("fixture");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("cut.pkl");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("write");
    assert!(lifelapse::nets::import::open(&path, None).is_err());
}
