//! The stylegan renderer end to end through the real binary, with the random-weight pSp
//! checkpoint of ../shared/fixtures imported the way a user imports a published one.

mod common;

use common::{decode_gif, fixtures, import_psp_fixture, lifelapse, photo, run, stderr};

#[test]
fn without_imported_weights_it_says_what_is_missing_and_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(lifelapse(dir.path())
        .env("LIFELAPSE_DATA_DIR", dir.path().join("data"))
        .args(["render", "--renderer", "stylegan", "-o", "x.gif"])
        .arg(photo("faces/barack_obama")));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("import-weights") && err.contains("psp_ffhq_encode.pt"),
        "{err}"
    );
    assert!(!dir.path().join("x.gif").exists());
}

#[test]
fn an_imported_psp_checkpoint_renders_a_time_lapse() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = import_psp_fixture(dir.path(), &data);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("psp") && stdout.contains("64²"), "{stdout}");
    let manifest = std::fs::read_to_string(data.join("models/MANIFEST.toml")).unwrap();
    assert!(
        manifest.contains("sha256") && manifest.contains("psp_small.pt"),
        "{manifest}"
    );

    let out = run(lifelapse(dir.path())
        .env("LIFELAPSE_DATA_DIR", &data)
        .args([
            "render",
            "--renderer",
            "stylegan",
            "--size",
            "256",
            "--refine",
            "2",
        ])
        .args(["--frames-between", "4", "-o", "lapse.gif"])
        .arg(photo("faces/barack_obama")));
    assert!(out.status.success(), "{}", stderr(&out));
    let gif = decode_gif(&dir.path().join("lapse.gif"));
    // 4 photos, 3 gaps of 4 frames, the photos themselves and the holds.
    assert!(gif.frames.len() >= 4 + 3 * 4, "{} frames", gif.frames.len());
    assert_eq!(gif.frames[0].dimensions(), (256, 256));
    // Mid-gap frames come from the generator: they differ from both photos.
    let mid = &gif.frames[gif.frames.len() / 2];
    assert_ne!(mid, &gif.frames[0]);

    // The generated frames get the backdrop the other renderers give theirs: with a plain
    // one, the top corners (background in every photo) are one colour in every frame.
    let out = run(lifelapse(dir.path())
        .env("LIFELAPSE_DATA_DIR", &data)
        .args(["render", "--renderer", "stylegan", "--size", "256"])
        .args([
            "--background",
            "plain",
            "--frames-between",
            "4",
            "-o",
            "plain.gif",
        ])
        .arg(photo("faces/barack_obama")));
    assert!(out.status.success(), "{}", stderr(&out));
    let gif = decode_gif(&dir.path().join("plain.gif"));
    common::assert_top_corners_steady(&gif.frames);
}

#[test]
fn a_damaged_models_manifest_is_named_with_what_is_wrong_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("models")).unwrap();
    std::fs::write(data.join("models/MANIFEST.toml"), "garbage = [\n").unwrap();
    let out = run(lifelapse(dir.path())
        .env("LIFELAPSE_DATA_DIR", &data)
        .args(["render", "--renderer", "stylegan", "-o", "x.gif"])
        .arg(photo("faces/barack_obama")));
    assert!(!out.status.success());
    // The file, and the parser's reason underneath it.
    let err = stderr(&out);
    assert!(
        err.contains("cannot read") && err.contains("MANIFEST.toml"),
        "{err}"
    );
    assert!(err.contains("TOML parse error"), "{err}");
    assert!(!dir.path().join("x.gif").exists());
}

#[test]
fn import_refuses_what_is_not_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("fake.pt"),
        b"PK\x03\x04 definitely not a zip",
    )
    .unwrap();
    let out = run(lifelapse(dir.path())
        .env("LIFELAPSE_DATA_DIR", dir.path().join("data"))
        .args(["import-weights", "fake.pt"]));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot import fake.pt"),
        "{}",
        stderr(&out)
    );
    let out = run(lifelapse(dir.path())
        .env("LIFELAPSE_DATA_DIR", dir.path().join("data"))
        .arg("import-weights")
        .arg(photo("faces/barack_obama/01.jpg")));
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("not a checkpoint"),
        "{}",
        stderr(&out)
    );
    // A generator-only checkpoint cannot drive the encoder.
    let out = run(lifelapse(dir.path())
        .args(["import-weights", "--kind", "psp"])
        .arg(fixtures().join("g_small.pt")));
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("stylegan2 checkpoint, not psp"),
        "{}",
        stderr(&out)
    );
}

/// Runs the command and returns its peak resident memory in MB, read from `/proc` until it exits.
fn peak_rss_mb(cmd: &mut std::process::Command) -> f64 {
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0.0f64;
    loop {
        // VmHWM is the process's own high-water mark: the last reading before exit is its peak.
        if let Ok(status) = std::fs::read_to_string(&status_file) {
            if let Some(kb) = status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
            {
                peak_kb = peak_kb.max(kb);
            }
        }
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "render failed");
            return peak_kb / 1024.0;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn a_long_generative_render_holds_no_more_frames_than_a_morph_render() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    import_psp_fixture(dir.path(), &data);
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    // 160 frames at 1024²: holding them all would take 480 MB more than a morph render.
    let peak = |renderer: &str| {
        peak_rss_mb(
            lifelapse(dir.path())
                .env("LIFELAPSE_DATA_DIR", &data)
                .args(["render", "--size", "1024", "--frames-between", "48"])
                .args(["--renderer", renderer, "-o"])
                .arg(dir.path().join(format!("{renderer}.mp4")))
                .arg(&samples),
        )
    };
    let (morph, stylegan) = (peak("morph"), peak("stylegan"));
    eprintln!("peak memory: morph {morph:.0} MB, stylegan {stylegan:.0} MB");
    assert!(morph > 0.0);
    assert!(
        stylegan <= 2.0 * morph,
        "stylegan {stylegan:.0} MB, morph {morph:.0} MB"
    );
}

#[test]
fn the_generator_family_is_chosen_among_imported_encoders() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    import_psp_fixture(dir.path(), &data);
    let render = |extra: &[&str], out: &str| {
        run(lifelapse(dir.path())
            .env("LIFELAPSE_DATA_DIR", &data)
            .args(["render", "--renderer", "stylegan", "--size", "256"])
            .args(["--frames-between", "4", "-o", out])
            .args(extra)
            .arg(photo("faces/barack_obama")))
    };

    // Only a StyleGAN2 encoder is imported: asking for StyleGAN3 says what to import.
    let out = render(&["--generator", "stylegan3"], "none.gif");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("StyleGAN3") && err.contains("import-weights"),
        "{err}"
    );

    let out = run(lifelapse(dir.path())
        .env("LIFELAPSE_DATA_DIR", &data)
        .arg("import-weights")
        .arg(fixtures().join("sg3/restyle_psp_sg3_small.pt")));
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("restyle") && stdout.contains("stylegan3"),
        "{stdout}"
    );

    let out = render(
        &["--generator", "stylegan3", "--encoder-iterations", "2"],
        "sg3.gif",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = render(&["--generator", "stylegan2"], "sg2.gif");
    assert!(out.status.success(), "{}", stderr(&out));
    let sg3 = decode_gif(&dir.path().join("sg3.gif"));
    let sg2 = decode_gif(&dir.path().join("sg2.gif"));
    assert_eq!(sg3.frames.len(), sg2.frames.len());
    // Same timeline, frames from two generators.
    let mid = sg3.frames.len() / 2;
    assert!(
        sg3.frames[mid] != sg2.frames[mid],
        "the two renders are the same"
    );

    // eval compares the two as the seed's experiments did.
    let out = run(lifelapse(dir.path())
        .env("LIFELAPSE_DATA_DIR", &data)
        .env("LIFELAPSE_RENDER_SPACING", "fixed")
        .env("LIFELAPSE_RENDER_FRAMES_BETWEEN", "3")
        .args([
            "eval",
            "--compare",
            "morph,stylegan2,stylegan3",
            "--size",
            "256",
        ])
        .args(["--json", "--plots"])
        .arg(dir.path().join("plots"))
        .arg(photo("faces/barack_obama")));
    assert!(out.status.success(), "{}", stderr(&out));
    let report = common::json(&out);
    for name in ["morph", "stylegan2", "stylegan3"] {
        assert!(
            report["renderers"][name]["identity_mean"].is_number(),
            "{name}: {report}"
        );
        assert!(dir.path().join(format!("plots/eval-{name}.png")).is_file());
    }
}
