//! Intruder flagging calibrated on ../shared/testdata: each person's photos with strangers mixed
//! in, judged exactly as an album is. The figures are written down in docs/faces.md.

mod common;

use lifelapse::album::{self, IntakeOptions};
use lifelapse::config::Config;
use lifelapse::face::identity::Described;
use lifelapse::face::{identity, FaceAnalyzer, IdentityOptions, Verdict};
use std::collections::BTreeMap;

/// Every person's and intruder's photo: (person, file, descriptor of the largest face).
fn described() -> Vec<(String, String, Described)> {
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::testdata().join("manifest.json")).expect("manifest"),
    )
    .expect("json");
    let analyzer = FaceAnalyzer::load(tch::Device::Cpu).expect("face models");
    let mut options = IntakeOptions::from_config(&Config::default().album);
    options.near_duplicate_bits = 0;
    let mut out = Vec::new();
    for entry in manifest["files"].as_array().expect("files") {
        if !matches!(entry["kind"].as_str(), Some("person") | Some("intruder")) {
            continue;
        }
        let rel = entry["file"].as_str().expect("file");
        let person = entry["person"].as_str().expect("person").to_string();
        let album = album::intake(&[common::photo(rel)], &options, &|| {});
        let faces = analyzer.analyze(&album.photos[0].image);
        let best = faces
            .iter()
            .find_map(|f| {
                f.descriptor.map(|descriptor| Described {
                    descriptor,
                    age: f.estimated_age,
                })
            })
            .unwrap_or_else(|| panic!("no described face in {rel}"));
        out.push((person, rel.to_string(), best));
    }
    out
}

#[test]
fn flags_strangers_mixed_into_each_persons_album() {
    let all = described();
    let intruders: Vec<&(String, String, Described)> = all
        .iter()
        .filter(|e| e.1.starts_with("intruders/"))
        .collect();
    let mut people: BTreeMap<&str, Vec<&(String, String, Described)>> = BTreeMap::new();
    for e in all.iter().filter(|e| e.1.starts_with("faces/")) {
        people.entry(e.0.as_str()).or_default().push(e);
    }
    let options = IdentityOptions::default();
    let (mut caught, mut strangers, mut false_flags, mut own) = (0, 0, 0, 0);
    // (stranger?, distance, years younger than the album's median face, its own limit)
    let mut seen: Vec<(bool, f32, f32, f32)> = Vec::new();
    for (person, photos) in &people {
        // One album per pair of strangers: 15 per person, strangers at most a third of it.
        for a in 0..intruders.len() {
            for b in a + 1..intruders.len() {
                let mixed = [intruders[a], intruders[b]];
                let album: Vec<Vec<Option<Described>>> = photos
                    .iter()
                    .chain(&mixed)
                    .map(|e| vec![Some(e.2)])
                    .collect();
                let album_age = identity::median_age(album.iter().filter_map(|f| f[0]?.age));
                let verdicts = identity::judge(&album, options);
                for (k, v) in verdicts.iter().enumerate() {
                    let stranger = k >= photos.len();
                    let d = v[0].distance().expect("distance");
                    let flagged = matches!(v[0], Verdict::Flagged { .. });
                    let age = album[k][0].and_then(|f| f.age).expect("age");
                    let limit = options.threshold + options.child.for_age(Some(age), album_age);
                    let younger = album_age.expect("album age") - age;
                    seen.push((stranger, d, younger, limit));
                    if stranger {
                        strangers += 1;
                        caught += flagged as usize;
                    } else {
                        own += 1;
                        false_flags += flagged as usize;
                        if flagged {
                            eprintln!("false flag: {person} {} at {d:.3}", photos[k].1);
                        }
                    }
                }
            }
        }
    }
    let recall = caught as f64 / strangers as f64;
    let false_rate = false_flags as f64 / own as f64;
    // The calibration table of docs/faces.md: distances by how much younger a face is than
    // the album's median face.
    for (lo, hi) in [(-99.0, 5.0), (5.0, 10.0), (10.0, 20.0), (20.0, 99.0)] {
        let band = |stranger: bool| -> Vec<f32> {
            let mut v: Vec<f32> = seen
                .iter()
                .filter(|s| s.0 == stranger && s.2 >= lo && s.2 < hi)
                .map(|s| s.1)
                .collect();
            v.sort_by(f32::total_cmp);
            v
        };
        let (same, other) = (band(false), band(true));
        let show = |v: &[f32]| match v {
            [] => "-".to_string(),
            v => format!(
                "{} faces, {:.3} / {:.3} / {:.3}",
                v.len(),
                v[0],
                v[v.len() / 2],
                v[v.len() - 1]
            ),
        };
        eprintln!(
            "younger by {lo}..{hi} y: same person {}; strangers {}",
            show(&same),
            show(&other)
        );
    }
    for t in [0.46f32, 0.48, 0.5, 0.52, 0.55] {
        let rate = |stranger: bool| {
            let group: Vec<_> = seen.iter().filter(|s| s.0 == stranger).collect();
            let over = group
                .iter()
                .filter(|s| s.1 > t + (s.3 - options.threshold))
                .count();
            over as f64 / group.len() as f64
        };
        eprintln!(
            "threshold {t:.2}: recall {:.3}, false flags {:.3}",
            rate(true),
            rate(false)
        );
    }
    eprintln!("recall {recall:.3} ({caught}/{strangers}), false flags {false_rate:.3} ({false_flags}/{own})");
    assert!(recall >= 0.95, "intruder recall {recall:.3}");
    assert!(false_rate <= 0.05, "false-flag rate {false_rate:.3}");
}
