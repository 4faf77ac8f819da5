//! Intruder flagging calibrated on ../shared/testdata: each person's photos with strangers mixed
//! in, judged exactly as an album is. The figures are written down in docs/faces.md.

mod common;

use lifelapse::album::{self, IntakeOptions};
use lifelapse::config::Config;
use lifelapse::face::{identity, Descriptor, FaceAnalyzer, IdentityOptions, Verdict};
use std::collections::BTreeMap;

/// Every person's and intruder's photo: (person, file, descriptor of the largest face).
fn described() -> Vec<(String, String, Descriptor)> {
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
            .filter_map(|f| f.descriptor)
            .next()
            .unwrap_or_else(|| panic!("no described face in {rel}"));
        out.push((person, rel.to_string(), best));
    }
    out
}

#[test]
fn flags_strangers_mixed_into_each_persons_album() {
    let all = described();
    let intruders: Vec<&(String, String, Descriptor)> = all
        .iter()
        .filter(|e| e.1.starts_with("intruders/"))
        .collect();
    let mut people: BTreeMap<&str, Vec<&(String, String, Descriptor)>> = BTreeMap::new();
    for e in all.iter().filter(|e| e.1.starts_with("faces/")) {
        people.entry(e.0.as_str()).or_default().push(e);
    }
    let options = IdentityOptions::default();
    let (mut caught, mut strangers, mut false_flags, mut own) = (0, 0, 0, 0);
    let mut same_d = Vec::new();
    let mut other_d = Vec::new();
    for (person, photos) in &people {
        // Three albums per person, each with two strangers (at most a third of the album).
        for trial in 0..3 {
            let mixed: Vec<&(String, String, Descriptor)> = (0..2)
                .map(|k| intruders[(trial * 2 + k) % intruders.len()])
                .collect();
            let album: Vec<Vec<Option<Descriptor>>> = photos
                .iter()
                .chain(&mixed)
                .map(|e| vec![Some(e.2)])
                .collect();
            let verdicts = identity::judge(&album, options);
            for (k, v) in verdicts.iter().enumerate() {
                let stranger = k >= photos.len();
                let d = v[0].distance().expect("distance");
                let flagged = matches!(v[0], Verdict::Flagged { .. });
                if stranger {
                    strangers += 1;
                    caught += flagged as usize;
                    other_d.push(d);
                } else {
                    own += 1;
                    false_flags += flagged as usize;
                    same_d.push(d);
                    if flagged {
                        eprintln!("false flag: {person} {} at {d:.3}", photos[k].1);
                    }
                }
            }
        }
    }
    let recall = caught as f64 / strangers as f64;
    let false_rate = false_flags as f64 / own as f64;
    for t in [0.5f32, 0.52, 0.54, 0.55, 0.56, 0.58, 0.6] {
        let r = other_d.iter().filter(|&&d| d > t).count() as f64 / other_d.len() as f64;
        let f = same_d.iter().filter(|&&d| d > t).count() as f64 / same_d.len() as f64;
        eprintln!("threshold {t:.2}: recall {r:.3}, false flags {f:.3}");
    }
    let stats = |v: &mut Vec<f32>| {
        v.sort_by(f32::total_cmp);
        (v[0], v[v.len() / 2], v[v.len() - 1])
    };
    eprintln!("same person: min/median/max {:?}", stats(&mut same_d));
    eprintln!("strangers:   min/median/max {:?}", stats(&mut other_d));
    eprintln!("recall {recall:.3} ({caught}/{strangers}), false flags {false_rate:.3} ({false_flags}/{own})");
    assert!(recall >= 0.9, "intruder recall {recall:.3}");
    assert!(false_rate <= 0.1, "false-flag rate {false_rate:.3}");
}
