//! `lifelapse eval`, through the real binary: renderer comparison, scoring a finished video,
//! and clear refusals.

mod common;

use common::{lifelapse, photo, run};

fn summary<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    let s = &report["renderers"][name];
    for key in [
        "identity_mean",
        "identity_min",
        "ghosting_mean",
        "ghosting_max",
        "ghosting_full_mean",
        "ghosting_full_max",
        "ghosting_hair_mean",
        "ghosting_clothes_mean",
        "ghosting_background_mean",
        "smoothness",
    ] {
        assert!(s[key].is_f64(), "{name}.{key} missing in {s}");
    }
    assert!(s["frames"].as_u64().unwrap_or(0) > 10, "{s}");
    s
}

#[test]
fn compare_renders_each_renderer_scores_it_and_plots_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(lifelapse(dir.path())
        .args(["eval", "--compare", "pixel,morph", "--json"])
        .args(["--plots", "plots"])
        .arg(photo("faces/mark_zuckerberg")));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let (pixel, morph) = (summary(&report, "pixel"), summary(&report, "morph"));
    assert_eq!(pixel["frames"], morph["frames"]);
    // The morph renderer's reason to exist: less ghosting, identity kept.
    let ghost = |s: &serde_json::Value| s["ghosting_mean"].as_f64().unwrap();
    assert!(
        ghost(morph) < 0.75 * ghost(pixel),
        "morph {} vs pixel {}",
        ghost(morph),
        ghost(pixel)
    );
    // Over the whole frame too: the outline moves with the face and both renderers lay the
    // person over the same blurred backdrop, so the morph's clothes and hair do not show twice.
    let full = |s: &serde_json::Value| s["ghosting_full_mean"].as_f64().unwrap();
    assert!(
        full(morph) < 0.6 * full(pixel),
        "whole frame: morph {} vs pixel {}",
        full(morph),
        full(pixel)
    );
    let id = |s: &serde_json::Value| s["identity_mean"].as_f64().unwrap();
    assert!(
        id(morph) > id(pixel) - 0.02,
        "{} vs {}",
        id(morph),
        id(pixel)
    );
    for curve in ["ghosting", "ghosting_full", "ghosting_background"] {
        let frames = report["per_frame"]["morph"][curve].as_array().unwrap();
        assert_eq!(frames.len() as u64, morph["frames"].as_u64().unwrap());
    }
    for name in ["pixel", "morph"] {
        let png = image::open(dir.path().join(format!("plots/eval-{name}.png"))).expect("plot");
        assert!(png.width() >= 600);
    }
}

#[test]
fn a_finished_video_is_scored_against_its_photos() {
    let dir = tempfile::tempdir().unwrap();
    let album = photo("faces/mark_zuckerberg");
    let out = run(lifelapse(dir.path())
        .args([
            "render",
            "--size",
            "256",
            "--frames-between",
            "6",
            "-o",
            "lapse.gif",
        ])
        .arg(&album));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(lifelapse(dir.path())
        .args(["eval", "lapse.gif", "--json", "--photos"])
        .arg(&album));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let s = summary(&report, "lapse");
    // The photos themselves are in the video: its best frames match them closely.
    assert!(s["identity_mean"].as_f64().unwrap() > 0.6, "{s}");
    assert!(dir.path().join("eval-lapse.png").is_file());
}

#[test]
fn eval_refuses_what_it_cannot_score() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(lifelapse(dir.path())
        .args(["eval"])
        .arg(photo("faces/barack_obama/01.jpg"))
        .arg(photo("faces/barack_obama/02.jpg")));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--compare"));
    let out = run(lifelapse(dir.path())
        .args(["eval"])
        .arg(photo("faces/barack_obama/01.jpg")));
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains(".gif or .mp4"));
}
