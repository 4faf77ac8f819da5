//! The real binary on real photos: what a person running `lifelapse` sees.

mod common;

use common::*;
use std::path::Path;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// Inserts an EXIF block with DateTimeOriginal (and its UTC offset) into a JPEG.
fn with_exif_date(jpeg: &[u8], date: &str, offset: &str) -> Vec<u8> {
    jpeg_with_exif(jpeg, &exif_block(1, date, Some(offset)))
}

fn entry_for<'a>(list: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    list.as_array()
        .expect("array")
        .iter()
        .find(|e| {
            e["photo"].as_str().is_some_and(|p| p.ends_with(name))
                || e["source"].as_str().is_some_and(|p| p.ends_with(name))
        })
        .unwrap_or_else(|| panic!("{name} not in {list}"))
}

#[test]
fn renders_a_looping_gif_with_the_expected_frames() {
    let dir = tmp();
    let out = dir.path().join("obama.gif");
    let result = run(lifelapse(dir.path())
        .arg("render")
        .arg(photo("faces/barack_obama"))
        .arg("-o")
        .arg(&out)
        .args(["--size", "256", "--frames-between", "3", "--fps", "10"]));
    assert!(result.status.success(), "{}", stderr(&result));
    let gif = decode_gif(&out);
    // 4 photos: 3 gaps of (1 keyframe + 3 between), the last photo, and 6 held frames at each end.
    assert_eq!(gif.frames.len(), 3 * 4 + 1 + 2 * 6);
    assert!(gif.frames.iter().all(|f| f.dimensions() == (256, 256)));
    // Each frame lasts 100 ms; the held frames are stored once and shown for their time.
    assert!(
        gif.delays_ms.iter().all(|&d| d % 100 == 0),
        "{:?}",
        gif.delays_ms
    );
    assert_eq!(gif.delays_ms.iter().sum::<u32>(), 25 * 100);
    assert!(gif.delays_ms[0] >= 600, "{:?}", gif.delays_ms);
    assert!(gif.loops_forever);
    // The held frames show a real photo; frames mid-way differ from both ends.
    assert_eq!(gif.frames[0], gif.frames[5]);
    assert_ne!(gif.frames[0], gif.frames[8]);
    assert!(
        stderr(&result).contains("4 photos, 25 frames"),
        "{}",
        stderr(&result)
    );
}

#[test]
fn every_bad_file_gets_its_own_clear_error_and_the_rest_go_on() {
    let dir = tmp();
    let result = run(lifelapse(dir.path())
        .arg("analyze")
        .arg("--json")
        .arg(photo("bad")));
    assert!(result.status.success(), "{}", stderr(&result));
    let report = json(&result);
    let errors = &report["errors"];
    let reason = |name| {
        entry_for(errors, name)["error"]
            .as_str()
            .expect("error text")
            .to_string()
    };
    assert!(
        reason("empty.jpg").contains("empty"),
        "{}",
        reason("empty.jpg")
    );
    assert!(reason("not_an_image.jpg").contains("not a supported image"));
    assert!(reason("truncated.jpg").contains("truncated"));
    assert_eq!(errors.as_array().map(Vec::len), Some(3), "{errors}");
    for name in [
        "alpha.png",
        "exif_rotated.jpg",
        "large_6000x4000.jpg",
        "many_faces.jpg",
        "no_face.jpg",
        "small_face_in_large_frame.jpg",
        "tiny_face_40x40.jpg",
        "two_faces.jpg",
    ] {
        entry_for(&report["photos"], name);
    }
}

#[test]
fn exif_orientation_turns_the_photo_upright() {
    let dir = tmp();
    let path = photo("bad/exif_rotated.jpg");
    let (stored_w, stored_h) = image::image_dimensions(&path).expect("dimensions");
    let result = run(lifelapse(dir.path()).args(["analyze", "--json"]).arg(&path));
    let report = json(&result);
    let p = &report["photos"][0];
    assert_eq!(
        (p["width"].as_u64(), p["height"].as_u64()),
        (Some(stored_h as u64), Some(stored_w as u64))
    );
}

#[test]
fn transparent_png_is_taken_in_and_its_face_found() {
    let dir = tmp();
    let result = run(lifelapse(dir.path())
        .args(["analyze", "--json"])
        .arg(photo("bad/alpha.png")));
    assert!(result.status.success(), "{}", stderr(&result));
    let report = json(&result);
    assert_eq!(report["photos"][0]["format"], "png");
    assert_eq!(
        report["faces"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
}

#[test]
fn decompression_bomb_limit_comes_from_the_environment() {
    let dir = tmp();
    let result = run(lifelapse(dir.path())
        .env("LIFELAPSE_ALBUM_MAX_MEGAPIXELS", "10")
        .arg("analyze")
        .arg(photo("bad/large_6000x4000.jpg")));
    assert_eq!(result.status.code(), Some(3));
    let err = stderr(&result);
    assert!(
        err.contains("6000×4000") && err.contains("10 MP limit"),
        "{err}"
    );
}

#[test]
fn huge_photo_is_kept_as_a_bounded_working_copy() {
    let dir = tmp();
    let result = run(lifelapse(dir.path())
        .args(["analyze", "--out-dir"])
        .arg(dir.path().join("crops"))
        .arg(photo("bad/large_6000x4000.jpg")));
    assert!(result.status.success(), "{}", stderr(&result));
    let crop = image::open(dir.path().join("crops/001.png")).expect("crop");
    assert_eq!((crop.width(), crop.height()), (512, 512));
    // One face: a one-tile contact sheet.
    let sheet = image::open(dir.path().join("crops/contact-sheet.png")).expect("contact sheet");
    assert_eq!((sheet.width(), sheet.height()), (208, 236));
}

#[test]
fn album_size_limit_refuses_each_extra_photo_by_name() {
    let dir = tmp();
    let result = run(lifelapse(dir.path())
        .env("LIFELAPSE_ALBUM_MAX_PHOTOS", "2")
        .args(["analyze", "--json"])
        .arg(photo("faces/barack_obama")));
    let report = json(&result);
    assert_eq!(report["photos"].as_array().map(Vec::len), Some(2));
    let errors = report["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 2);
    assert!(errors.iter().all(|e| e["error"]
        .as_str()
        .is_some_and(|t| t.contains("most one album may hold"))));
}

#[test]
fn no_usable_photos_fails_cleanly_and_writes_nothing() {
    let dir = tmp();
    let out = dir.path().join("out.gif");
    let result = run(lifelapse(dir.path())
        .arg("render")
        .arg(photo("bad/empty.jpg"))
        .arg(photo("bad/not_an_image.jpg"))
        .arg("-o")
        .arg(&out));
    assert_eq!(result.status.code(), Some(3));
    let err = stderr(&result);
    assert!(
        err.contains("no usable photos") && err.contains("empty.jpg: the file is empty"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        0,
        "something was written"
    );
}

#[test]
fn one_photo_is_not_a_time_lapse() {
    let dir = tmp();
    let result = run(lifelapse(dir.path())
        .arg("render")
        .arg(photo("faces/barack_obama/01.jpg"))
        .arg("-o")
        .arg(dir.path().join("out.gif")));
    assert_eq!(result.status.code(), Some(3));
    assert!(
        stderr(&result).contains("at least two usable photos"),
        "{}",
        stderr(&result)
    );
    assert!(!dir.path().join("out.gif").exists());
}

#[test]
fn unwritable_output_exits_4_and_names_the_path() {
    let dir = tmp();
    let result = run(lifelapse(dir.path())
        .arg("render")
        .arg(photo("faces/barack_obama"))
        .args(["--size", "256", "-o", "/nonexistent-dir/out.gif"]));
    assert_eq!(result.status.code(), Some(4), "{}", stderr(&result));
    assert!(stderr(&result).contains("/nonexistent-dir/out.gif"));
}

#[test]
fn unknown_output_format_and_bad_flags_are_usage_errors() {
    let dir = tmp();
    let bad_ext = run(lifelapse(dir.path())
        .arg("render")
        .arg(photo("faces/barack_obama"))
        .args(["-o", "out.avi"]));
    assert_eq!(bad_ext.status.code(), Some(2));
    assert!(stderr(&bad_ext).contains(".gif or .mp4"));
    let bad_size =
        run(lifelapse(dir.path()).args(["render", "x.jpg", "-o", "o.gif", "--size", "300"]));
    assert_eq!(bad_size.status.code(), Some(2));
    let unknown = run(lifelapse(dir.path()).arg("make-coffee"));
    assert_eq!(unknown.status.code(), Some(2));
    let unborn = run(lifelapse(dir.path()).args(["analyze", "x.jpg", "--born", "2999-01-01"]));
    assert_eq!(unborn.status.code(), Some(2));
    assert!(
        stderr(&unborn).contains("2999-01-01 is in the future"),
        "{}",
        stderr(&unborn)
    );
    let bad_env = run(lifelapse(dir.path())
        .env("LIFELAPSE_RENDER_SIZE", "big")
        .arg("info"));
    assert_eq!(bad_env.status.code(), Some(2));
    assert!(stderr(&bad_env).contains("LIFELAPSE_RENDER_SIZE"));
}

#[test]
fn exact_and_near_duplicates_are_reported_and_left_out() {
    let dir = tmp();
    let album = dir.path().join("album");
    std::fs::create_dir(&album).expect("mkdir");
    let original = photo("faces/barack_obama/01.jpg");
    std::fs::copy(&original, album.join("a.jpg")).expect("copy");
    std::fs::copy(&original, album.join("b_copy.jpg")).expect("copy");
    let img = image::open(&original).expect("open").into_rgb8();
    let small = image::imageops::resize(
        &img,
        img.width() * 3 / 5,
        img.height() * 3 / 5,
        image::imageops::FilterType::Triangle,
    );
    let mut file = std::fs::File::create(album.join("c_small.jpg")).expect("create");
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut file, 70)
        .encode_image(&small)
        .expect("encode");
    std::fs::copy(
        photo("faces/barack_obama/02.jpg"),
        album.join("d_other.jpg"),
    )
    .expect("copy");

    let result = run(lifelapse(dir.path())
        .args(["analyze", "--json"])
        .arg(&album));
    let report = json(&result);
    assert_eq!(
        report["photos"].as_array().map(Vec::len),
        Some(2),
        "{report}"
    );
    let dups = &report["duplicates"];
    let exact = entry_for(dups, "b_copy.jpg");
    assert_eq!(exact["kind"], "exact");
    assert!(exact["of"].as_str().is_some_and(|s| s.ends_with("a.jpg")));
    let near = entry_for(dups, "c_small.jpg");
    assert_eq!(near["kind"], "near");
    assert!(
        near["of"].as_str().is_some_and(|s| s.ends_with("a.jpg")),
        "the larger original is kept"
    );
}

#[test]
fn capture_dates_order_the_album_and_give_ages() {
    let dir = tmp();
    let album = dir.path().join("album");
    std::fs::create_dir(&album).expect("mkdir");
    let dated = [
        ("01.jpg", "2012:06:01 10:00:00", "-04:00"),
        ("02.jpg", "2008:11:04 23:30:00", "-06:00"),
        ("03.jpg", "2000:01:01 00:00:00", "+00:00"),
        ("04.jpg", "2016:01:12 21:00:00", "-05:00"),
    ];
    for (name, date, offset) in dated {
        let bytes = std::fs::read(photo(&format!("faces/barack_obama/{name}"))).expect("read");
        std::fs::write(album.join(name), with_exif_date(&bytes, date, offset)).expect("write");
    }
    let result = run(lifelapse(dir.path())
        .args(["analyze", "--json", "--born", "1961-08-04"])
        .arg(&album));
    assert!(result.status.success(), "{}", stderr(&result));
    let report = json(&result);
    let photos = report["photos"].as_array().expect("photos");
    let order: Vec<&str> = photos
        .iter()
        .filter_map(|p| p["photo"].as_str())
        .map(|p| &p[p.len() - 6..])
        .collect();
    // Photos go by age: the dated ones by capture date minus birth date, in date order.
    let dated: Vec<&str> = order.iter().copied().filter(|n| *n != "03.jpg").collect();
    assert_eq!(dated, ["02.jpg", "01.jpg", "04.jpg"]);
    let first = entry_for(&report["photos"], "02.jpg");
    assert_eq!(first["capture_date"], "2008-11-04 23:30:00-06:00");
    assert_eq!(first["age"], 47.3);
    assert_eq!(first["age_source"], "exif");
    // The camera-default date is ignored: that photo's age comes from the age network.
    let undated = entry_for(&report["photos"], "03.jpg");
    assert!(undated["capture_date"].is_null());
    assert_eq!(undated["age_source"], "model");
    assert!(undated["date_note"]
        .as_str()
        .is_some_and(|n| n.contains("unset clock")));
    // Ages never go down along the album.
    let ages: Vec<f64> = photos.iter().filter_map(|p| p["age"].as_f64()).collect();
    assert!(ages.windows(2).all(|w| w[0] <= w[1]), "{ages:?}");
}

#[test]
fn heic_photos_are_decoded_with_their_capture_date_when_libheif_is_installed() {
    let dir = tmp();
    let heic = dir.path().join("photo.heic");
    // heif-enc carries the JPEG's EXIF block into the HEIC file.
    let dated = dir.path().join("dated.jpg");
    let jpeg = std::fs::read(photo("faces/barack_obama/02.jpg")).expect("read");
    std::fs::write(
        &dated,
        with_exif_date(&jpeg, "2012:06:30 09:15:00", "-04:00"),
    )
    .expect("write");
    let encoded = std::process::Command::new("heif-enc")
        .args(["-q", "60", "-o"])
        .arg(&heic)
        .arg(&dated)
        .output();
    match encoded {
        Ok(out) if out.status.success() => {}
        // Developers without libheif's tools skip; CI installs them, so there it must run.
        _ if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: heif-enc (Debian libheif-examples) is not installed");
            return;
        }
        other => panic!("heif-enc failed in CI: {other:?}"),
    }
    let (w, h) = image::image_dimensions(photo("faces/barack_obama/02.jpg")).expect("dims");
    let result = run(lifelapse(dir.path()).args(["analyze", "--json"]).arg(&heic));
    assert!(result.status.success(), "{}", stderr(&result));
    let report = json(&result);
    let p = &report["photos"][0];
    assert_eq!(p["format"], "heif");
    assert_eq!(
        (p["width"].as_u64(), p["height"].as_u64()),
        (Some(w as u64), Some(h as u64))
    );
    assert_eq!(p["capture_date"], "2012-06-30 09:15:00-04:00", "{p}");
}

#[test]
fn a_render_killed_mid_way_leaves_the_previous_video_intact() {
    let dir = tmp();
    let out = dir.path().join("lapse.gif");
    std::fs::write(&out, b"previous video").expect("write");
    let mut child = lifelapse(dir.path())
        .arg("render")
        .arg(photo("faces/barack_obama"))
        .args(["--size", "1024", "--frames-between", "80", "-o"])
        .arg(&out)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Killed once the video is being written: its partial file sits beside the output.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let writing = || {
        std::fs::read_dir(dir.path())
            .expect("list")
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(".lifelapse-"))
    };
    while !writing() && child.try_wait().expect("wait").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the video was never written"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let still_running = child.try_wait().expect("wait").is_none();
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    assert!(
        still_running,
        "the render finished too fast to be interrupted"
    );
    assert_eq!(std::fs::read(&out).expect("read"), b"previous video");
}

#[test]
fn help_teaches_with_examples_and_exit_codes() {
    let out = run(lifelapse(Path::new(".")).arg("--help"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("lifelapse render samples/ -o lapse.gif"));
    assert!(text.contains("Exit codes"));
}

#[test]
fn analyze_lists_every_face_and_which_one_is_used() {
    let dir = tmp();
    let result = run(lifelapse(dir.path())
        .args(["analyze", "--json"])
        .arg(photo("bad/two_faces.jpg"))
        .arg(photo("bad/no_face.jpg")));
    assert!(result.status.success(), "{}", stderr(&result));
    let report = json(&result);
    let faces = report["faces"].as_array().expect("faces");
    assert_eq!(faces.len(), 2, "{report}");
    assert!(faces.iter().all(|f| f["photo"]
        .as_str()
        .is_some_and(|p| p.ends_with("two_faces.jpg"))));
    assert!(faces
        .iter()
        .all(|f| f["landmarks"].as_array().map(Vec::len) == Some(68)));
    assert_eq!(faces.iter().filter(|f| f["used"] == true).count(), 1);
    let unused = faces
        .iter()
        .find(|f| f["used"] == false)
        .expect("unused face");
    assert!(unused["reason"]
        .as_str()
        .is_some_and(|r| r.contains("someone else")));
    // The other person in a group photo is flagged as such, never silently dropped.
    assert_eq!(unused["flagged"], true);
    assert_eq!(entry_for(&report["photos"], "no_face.jpg")["faces"], 0);
}

#[test]
fn render_leaves_out_photos_without_a_face_and_says_so() {
    let dir = tmp();
    let out = dir.path().join("out.gif");
    let result = run(lifelapse(dir.path())
        .arg("render")
        .arg(photo("faces/barack_obama/01.jpg"))
        .arg(photo("faces/barack_obama/02.jpg"))
        .arg(photo("bad/no_face.jpg"))
        .args(["--size", "256", "--frames-between", "12", "-o"])
        .arg(&out));
    assert!(result.status.success(), "{}", stderr(&result));
    assert!(
        stderr(&result).contains("no_face.jpg: no face found"),
        "{}",
        stderr(&result)
    );
    // Two keyframes: 12 frames between them, 6 held at each end.
    assert_eq!(decode_gif(&out).frames.len(), 13 + 1 + 12);
}

#[test]
fn flags_the_stranger_in_a_family_album_and_keep_all_brings_it_back() {
    let dir = tmp();
    let analyzed = run(lifelapse(dir.path())
        .args(["analyze", "--json"])
        .arg(photo("faces/barack_obama"))
        .arg(photo("intruders/01.jpg")));
    assert!(analyzed.status.success(), "{}", stderr(&analyzed));
    let report = json(&analyzed);
    let stranger = entry_for(&report["faces"], "intruders/01.jpg");
    assert_eq!(stranger["flagged"], true, "{stranger}");
    assert_eq!(stranger["used"], false);
    assert!(stranger["reason"]
        .as_str()
        .is_some_and(|r| r.contains("suspected intruder")));
    let family: Vec<&serde_json::Value> = report["faces"]
        .as_array()
        .expect("faces")
        .iter()
        .filter(|f| {
            f["photo"]
                .as_str()
                .is_some_and(|p| p.contains("barack_obama"))
        })
        .collect();
    assert_eq!(family.len(), 4);
    assert!(family
        .iter()
        .all(|f| f["flagged"] == false && f["used"] == true));
    // The photo keeps the age the network estimates, and says what became of it and why.
    let photo_entry = entry_for(&report["photos"], "intruders/01.jpg");
    assert_eq!(photo_entry["status"], "flagged", "{photo_entry}");
    assert_eq!(photo_entry["age_source"], "model");
    assert!(photo_entry["age"].as_f64().is_some_and(|a| a > 20.0));
    assert!(photo_entry["reason"]
        .as_str()
        .is_some_and(|r| r.contains("suspected intruder")));

    // The table shows the same as the chat's review: used or flagged, the age, the reason.
    let table = run(lifelapse(dir.path())
        .arg("analyze")
        .arg(photo("faces/barack_obama"))
        .arg(photo("intruders/01.jpg")));
    assert!(table.status.success(), "{}", stderr(&table));
    let text = String::from_utf8_lossy(&table.stdout).to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("face"), "{text}");
    let row = lines
        .iter()
        .position(|l| l.contains("intruders/01.jpg"))
        .unwrap_or_else(|| panic!("no row: {text}"));
    let cells: Vec<&str> = lines[row].split_whitespace().collect();
    assert_eq!(cells.last(), Some(&"flagged"), "{text}");
    assert!(cells[cells.len() - 2].parse::<f64>().is_ok(), "{text}");
    assert!(lines[row + 1].contains("why: suspected intruder"), "{text}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.split_whitespace().last() == Some("used"))
            .count(),
        4,
        "{text}"
    );

    let rendered = run(lifelapse(dir.path())
        .arg("render")
        .arg(photo("faces/barack_obama"))
        .arg(photo("intruders/01.jpg"))
        .args(["--size", "256", "-o"])
        .arg(dir.path().join("out.gif")));
    assert!(
        stderr(&rendered).contains("suspected intruder"),
        "{}",
        stderr(&rendered)
    );
    assert!(
        stderr(&rendered).contains("4 photos"),
        "{}",
        stderr(&rendered)
    );
    let kept = run(lifelapse(dir.path())
        .arg("render")
        .arg(photo("faces/barack_obama"))
        .arg(photo("intruders/01.jpg"))
        .args(["--size", "256", "--keep-all", "-o"])
        .arg(dir.path().join("all.gif")));
    assert!(stderr(&kept).contains("5 photos"), "{}", stderr(&kept));
}

#[test]
fn ages_fixed_by_hand_win_and_order_the_video() {
    let dir = tmp();
    let result = run(lifelapse(dir.path())
        .args(["analyze", "--json"])
        .arg(photo("faces/barack_obama"))
        .args([
            "--age",
            "01.jpg=60",
            "--age",
            "faces/barack_obama/04.jpg=10",
        ]));
    assert!(result.status.success(), "{}", stderr(&result));
    let report = json(&result);
    let photos = report["photos"].as_array().expect("photos");
    assert!(photos[0]["photo"]
        .as_str()
        .is_some_and(|p| p.ends_with("04.jpg")));
    assert_eq!(photos[0]["age"], 10.0);
    assert_eq!(photos[0]["age_source"], "user");
    assert!(photos[3]["photo"]
        .as_str()
        .is_some_and(|p| p.ends_with("01.jpg")));
    assert_eq!(photos[3]["age_source"], "user");
    // Ages set one older, one younger than they look share no bias: the rest stay estimates.
    assert_eq!(photos[1]["age_source"], "model");
    let bad = run(lifelapse(dir.path()).args(["analyze", "x.jpg", "--age", "x.jpg=old"]));
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn ages_set_by_hand_correct_the_estimates_of_the_other_photos() {
    let dir = tmp();
    let analyze = |ages: &[String]| {
        let mut cmd = lifelapse(dir.path());
        cmd.args(["analyze", "--json"])
            .arg(photo("faces/barack_obama"))
            .arg(photo("intruders/01.jpg"));
        for age in ages {
            cmd.args(["--age", age]);
        }
        let result = run(&mut cmd);
        assert!(result.status.success(), "{}", stderr(&result));
        let report = json(&result);
        report["photos"]
            .as_array()
            .expect("photos")
            .iter()
            .map(|p| {
                // "barack_obama/01.jpg", "intruders/01.jpg"
                let path = p["photo"].as_str().expect("photo");
                let parts: Vec<&str> = path.rsplit('/').take(2).collect();
                let name = format!("{}/{}", parts[1], parts[0]);
                let source = p["age_source"].as_str().expect("source").to_string();
                (name, (p["age"].as_f64().expect("age"), source))
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let estimated = analyze(&[]);
    assert!(
        estimated.values().all(|(_, s)| s == "model"),
        "{estimated:?}"
    );
    // The user says two photos were taken 6 years later in life than they look.
    let fixes: Vec<String> = ["barack_obama/01.jpg", "barack_obama/02.jpg"]
        .iter()
        .map(|n| format!("{n}={:.1}", estimated[*n].0 + 6.0))
        .collect();
    let told = analyze(&fixes);
    assert_eq!(told["barack_obama/01.jpg"].1, "user");
    // The flagged stranger keeps the network's own estimate: the album's facts are its person's.
    assert_eq!(told["intruders/01.jpg"], estimated["intruders/01.jpg"]);
    assert_eq!(told["intruders/01.jpg"].1, "model");
    for other in ["barack_obama/03.jpg", "barack_obama/04.jpg"] {
        let (age, source) = &told[other];
        assert_eq!(source, "calibrated", "{told:?}");
        // Two photos' word: two thirds of their shift.
        let expected = estimated[other].0 + 4.0;
        assert!(
            (age - expected).abs() < 0.15,
            "{other}: {age} for {expected}"
        );
    }
}

#[test]
fn thinning_keeps_the_best_face_of_each_day_and_says_why_the_rest_went() {
    let dir = tmp();
    let album = dir.path().join("album");
    std::fs::create_dir(&album).expect("mkdir");
    for (name, date) in [
        ("01.jpg", "2012:06:01 09:00:00"),
        ("02.jpg", "2012:06:01 18:30:00"),
        ("04.jpg", "2014:03:02 12:00:00"),
    ] {
        let bytes = std::fs::read(photo(&format!("faces/barack_obama/{name}"))).expect("read");
        std::fs::write(album.join(name), with_exif_date(&bytes, date, "-04:00")).expect("write");
    }
    let result = run(lifelapse(dir.path())
        .args(["analyze", "--json", "--per", "day"])
        .arg(&album));
    assert!(result.status.success(), "{}", stderr(&result));
    let report = json(&result);
    let faces = report["faces"].as_array().expect("faces");
    let (a, b) = (
        entry_for(&report["faces"], "01.jpg"),
        entry_for(&report["faces"], "02.jpg"),
    );
    let (kept, thinned) = if a["used"] == true { (a, b) } else { (b, a) };
    assert_eq!(kept["used"], true);
    assert!(kept["quality"].as_f64() >= thinned["quality"].as_f64());
    assert_eq!(thinned["used"], false);
    assert!(
        thinned["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("thinned") && r.contains("same day")),
        "{thinned}"
    );
    assert_eq!(entry_for(&report["faces"], "04.jpg")["used"], true);
    assert_eq!(faces.len(), 3, "every face is listed, used or not");
}

#[test]
fn low_quality_faces_are_left_out_with_the_reason() {
    let dir = tmp();
    let result = run(lifelapse(dir.path())
        .env("LIFELAPSE_FACES_MIN_QUALITY", "0.999")
        .args(["analyze", "--json"])
        .arg(photo("faces/barack_obama/04.jpg")));
    assert!(result.status.success(), "{}", stderr(&result));
    let face = &json(&result)["faces"][0];
    assert_eq!(face["used"], false);
    assert!(
        face["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("low quality")),
        "{face}"
    );
}

#[test]
fn morph_is_the_default_renderer_and_differs_from_the_cross_fade() {
    let dir = tmp();
    let render = |renderer: Option<&str>, out: &str| {
        let mut cmd = lifelapse(dir.path());
        cmd.arg("render")
            .arg(photo("faces/barack_obama/01.jpg"))
            .arg(photo("faces/barack_obama/02.jpg"))
            .args([
                "--size",
                "256",
                "--frames-between",
                "3",
                "--gamma",
                "0",
                "-o",
                out,
            ]);
        if let Some(r) = renderer {
            cmd.args(["--renderer", r]);
        }
        let result = run(&mut cmd);
        assert!(result.status.success(), "{}", stderr(&result));
        decode_gif(&dir.path().join(out))
    };
    let default = render(None, "default.gif");
    let morph = render(Some("morph"), "morph.gif");
    let pixel = render(Some("pixel"), "pixel.gif");
    assert!(
        default.frames == morph.frames,
        "the default render is not the morph render"
    );
    // The same keyframe (up to each GIF's own palette); a different frame half-way.
    let psnr = lifelapse::video::psnr;
    let at_keyframe = psnr(&morph.frames[6], &pixel.frames[6]);
    let half_way = psnr(&morph.frames[8], &pixel.frames[8]);
    assert!(at_keyframe > 35.0, "keyframes differ: {at_keyframe:.1} dB");
    assert!(
        half_way < at_keyframe - 5.0,
        "half-way frames alike: {half_way:.1} dB vs {at_keyframe:.1} dB"
    );
}

#[test]
fn a_plain_background_is_one_steady_colour_and_keep_shows_the_photos_own() {
    let dir = tmp();
    let render = |background: &str| {
        let out = format!("{background}.gif");
        let result = run(lifelapse(dir.path())
            .arg("render")
            .arg(photo("faces/barack_obama/01.jpg"))
            .arg(photo("faces/barack_obama/02.jpg"))
            .args([
                "--size",
                "256",
                "--frames-between",
                "3",
                "--background",
                background,
            ])
            .args(["-o", &out]));
        assert!(result.status.success(), "{}", stderr(&result));
        decode_gif(&dir.path().join(out))
    };
    let (plain, keep) = (render("plain"), render("keep"));
    // The top corners are background in both photos: with `plain`, one colour in every
    // frame (up to the GIF's palette); with `keep`, the photos' own, which change.
    common::assert_top_corners_steady(&plain.frames);
    let keep_corners: Vec<_> = keep.frames.iter().map(common::top_corners).collect();
    assert!(
        keep_corners.iter().any(|c| c != &keep_corners[0]),
        "the kept backgrounds never change"
    );
    let refused = run(lifelapse(dir.path())
        .arg("render")
        .arg(photo("faces/barack_obama/01.jpg"))
        .args(["--background", "sepia", "-o", "x.gif"]));
    assert_eq!(refused.status.code(), Some(2));
}

#[test]
fn age_spacing_gives_longer_age_gaps_more_frames() {
    let dir = tmp();
    let out = dir.path().join("out.gif");
    let result = run(lifelapse(dir.path())
        .arg("render")
        .arg(photo("faces/barack_obama"))
        .args([
            "--age",
            "01.jpg=10",
            "--age",
            "02.jpg=11",
            "--age",
            "03.jpg=20",
            "--age",
            "04.jpg=20.5",
        ])
        .args(["--size", "256", "-o"])
        .arg(&out));
    assert!(result.status.success(), "{}", stderr(&result));
    // Defaults: 3 frames a year, 6 to 36 a gap. Gaps of 1, 9 and 0.5 years get 6, 27 and 6
    // frames; each keyframe shows once and the ends are held 6 frames.
    assert_eq!(
        decode_gif(&out).frames.len(),
        6 + (1 + 6) + (1 + 27) + (1 + 6) + 1 + 6
    );
}

#[test]
fn mp4_output_is_h264_yuv420p_with_every_frame() {
    let dir = tmp();
    let out = dir.path().join("lapse.mp4");
    let result = run(lifelapse(dir.path())
        .arg("render")
        .arg(photo("faces/barack_obama"))
        .args([
            "--size",
            "256",
            "--frames-between",
            "3",
            "--fps",
            "10",
            "-o",
        ])
        .arg(&out));
    if !lifelapse::video::mp4::available() && std::env::var_os("CI").is_none() {
        assert_eq!(result.status.code(), Some(2), "{}", stderr(&result));
        assert!(stderr(&result).contains("ffmpeg"));
        eprintln!("skipped: ffmpeg is not installed (tools/setup.sh installs it)");
        return;
    }
    assert!(result.status.success(), "{}", stderr(&result));
    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_entries",
        ])
        .arg("stream=codec_name,pix_fmt,width,height,nb_read_frames")
        .args(["-of", "json"])
        .arg(&out)
        .output()
        .expect("ffprobe");
    let info: serde_json::Value = serde_json::from_slice(&probe.stdout).expect("ffprobe json");
    let stream = &info["streams"][0];
    assert_eq!(stream["codec_name"], "h264");
    assert_eq!(stream["pix_fmt"], "yuv420p");
    assert_eq!(
        (stream["width"].as_u64(), stream["height"].as_u64()),
        (Some(256), Some(256))
    );
    assert_eq!(stream["nb_read_frames"], "25");
    // Metadata up front, so chat apps can start playing before the download ends.
    let bytes = std::fs::read(&out).expect("mp4");
    let moov = bytes.windows(4).position(|w| w == b"moov");
    let mdat = bytes.windows(4).position(|w| w == b"mdat");
    assert!(moov < mdat, "moov atom after mdat");
}

#[test]
fn labels_caption_the_age_at_the_bottom_only() {
    let dir = tmp();
    let render = |labels: bool, out: &str| {
        let mut cmd = lifelapse(dir.path());
        cmd.arg("render")
            .arg(photo("faces/barack_obama/01.jpg"))
            .arg(photo("faces/barack_obama/02.jpg"))
            .args([
                "--age",
                "01.jpg=47",
                "--age",
                "02.jpg=51",
                "--size",
                "256",
                "--frames-between",
                "3",
                "-o",
                out,
            ]);
        if labels {
            cmd.arg("--labels");
        }
        let result = run(&mut cmd);
        assert!(result.status.success(), "{}", stderr(&result));
        decode_gif(&dir.path().join(out)).frames.remove(0)
    };
    let (plain, labelled) = (render(false, "plain.gif"), render(true, "labelled.gif"));
    let rows = |img: &image::RgbImage, y0: u32, y1: u32| {
        image::imageops::crop_imm(img, 0, y0, 256, y1 - y0).to_image()
    };
    let top = lifelapse::video::psnr(&rows(&plain, 0, 200), &rows(&labelled, 0, 200));
    let bottom = lifelapse::video::psnr(&rows(&plain, 236, 256), &rows(&labelled, 236, 256));
    assert!(
        top > 30.0,
        "the picture above the caption changed: {top:.1} dB"
    );
    assert!(bottom < 20.0, "no caption drawn: {bottom:.1} dB");
    // Bright text on the dark band.
    let band = rows(&labelled, 236, 256);
    assert!(band.pixels().filter(|p| p[0] > 200).count() > 20);
}

#[test]
fn serve_without_a_bot_token_names_the_variables() {
    let dir = tmp();
    let out = run(lifelapse(dir.path()).arg("serve"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("LIFELAPSE_TELEGRAM_TOKEN") && err.contains("LIFELAPSE_DISCORD_TOKEN"),
        "{err}"
    );
}

#[test]
fn the_face_detector_settings_of_the_config_are_honoured() {
    let dir = tmp();
    // The detection scores of the faces found.
    let scores = |env: &[(&str, &str)]| -> Vec<f64> {
        let mut cmd = lifelapse(dir.path());
        for (key, value) in env {
            cmd.env(key, value);
        }
        let out = run(cmd
            .args(["analyze", "--json"])
            .arg(photo("bad/many_faces.jpg")));
        assert!(out.status.success(), "{}", stderr(&out));
        json(&out)["faces"]
            .as_array()
            .expect("faces")
            .iter()
            .filter_map(|f| f["score"].as_f64())
            .collect()
    };
    let default = scores(&[]);
    assert!(default.len() >= 3, "{default:?}");
    assert!(default.iter().any(|&s| s < 0.8), "{default:?}");
    let strict = scores(&[("LIFELAPSE_FACES_DETECT_SCORE", "0.8")]);
    assert!(
        !strict.is_empty() && strict.len() < default.len() && strict.iter().all(|&s| s > 0.8),
        "score 0.8: {strict:?} of {default:?}"
    );
    let coarse = scores(&[("LIFELAPSE_FACES_DETECT_SIZE", "96")]);
    assert!(
        coarse.len() < default.len(),
        "size 96: {coarse:?} of {default:?}"
    );
    let refused = run(lifelapse(dir.path())
        .env("LIFELAPSE_FACES_DETECT_SIZE", "100")
        .args(["analyze", "--json"])
        .arg(photo("bad/many_faces.jpg")));
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("multiple of 32"),
        "{}",
        stderr(&refused)
    );
}
