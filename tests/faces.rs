//! Face detection, landmarks and alignment on real photos.

mod common;

use lifelapse::album::{self, IntakeOptions};
use lifelapse::config::Config;
use lifelapse::face::{Face, FaceAnalyzer};

fn analyzer() -> FaceAnalyzer {
    FaceAnalyzer::load(tch::Device::Cpu).expect("face models")
}

fn faces_in(analyzer: &FaceAnalyzer, rel: &str) -> Vec<Face> {
    let files = vec![common::photo(rel)];
    let mut options = IntakeOptions::from_config(&Config::default().album);
    options.near_duplicate_bits = 0;
    let album = album::intake(&files, &options, &|| {});
    let photo = album
        .photos
        .first()
        .unwrap_or_else(|| panic!("{rel} not taken in: {:?}", album.rejected));
    analyzer.analyze(&photo.image)
}

fn mean_y(face: &Face, range: std::ops::Range<usize>) -> f32 {
    let n = range.len() as f32;
    face.landmarks[range].iter().map(|p| p[1]).sum::<f32>() / n
}

#[test]
fn finds_one_plausible_face_in_every_portrait() {
    let analyzer = analyzer();
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::testdata().join("manifest.json")).expect("manifest"),
    )
    .expect("json");
    let mut missed = Vec::new();
    for entry in manifest["files"].as_array().expect("files") {
        let kind = entry["kind"].as_str().unwrap_or("");
        if kind != "person" && kind != "intruder" {
            continue;
        }
        let rel = entry["file"].as_str().expect("file");
        let faces = faces_in(&analyzer, rel);
        let Some(face) = faces.first() else {
            missed.push(rel.to_string());
            continue;
        };
        let b = face.bbox;
        // Eyes inside the box, above the mouth.
        for p in &face.landmarks[36..48] {
            assert!(
                p[0] >= b.x - 0.1 * b.w && p[0] <= b.x + 1.1 * b.w,
                "{rel}: eye outside box"
            );
            assert!(
                p[1] >= b.y - 0.1 * b.h && p[1] <= b.y + 1.1 * b.h,
                "{rel}: eye outside box"
            );
        }
        assert!(
            mean_y(face, 36..48) < mean_y(face, 48..68),
            "{rel}: eyes below mouth"
        );
    }
    eprintln!("missed: {missed:?}");
    assert!(missed.is_empty(), "no face found in {missed:?}");
}

#[test]
fn counts_faces_in_group_and_empty_photos() {
    let analyzer = analyzer();
    assert_eq!(faces_in(&analyzer, "bad/no_face.jpg").len(), 0);
    assert_eq!(faces_in(&analyzer, "bad/two_faces.jpg").len(), 2);
    let many = faces_in(&analyzer, "bad/many_faces.jpg").len();
    // About seven people, some cut off by the frame; the tiny detector finds the whole faces.
    assert!((4..=9).contains(&many), "{many} faces in the group photo");
}

#[test]
fn finds_small_faces_and_reports_those_too_small_to_align() {
    let analyzer = analyzer();
    let small = faces_in(&analyzer, "bad/small_face_in_large_frame.jpg");
    assert_eq!(small.len(), 1, "the 48 px face in a 640×480 frame");
    assert!(!small[0].too_small() && small[0].descriptor.is_some());
    let tiny = faces_in(&analyzer, "bad/tiny_face_40x40.jpg");
    assert_eq!(tiny.len(), 1, "the 40×40 photo's face");
    assert!(tiny[0].too_small() && tiny[0].descriptor.is_none());
}
