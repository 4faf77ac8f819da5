//! The age network on ../shared/testdata, against the manifest's approximate ages (visual
//! estimates: only their coarse order, child < teen < adult, is trustworthy).

mod common;

use lifelapse::album::{self, IntakeOptions};
use lifelapse::config::Config;
use lifelapse::face::FaceAnalyzer;
use std::collections::BTreeMap;

/// The midpoint of "~7-9 (visual estimate…)" or "~30 (…)".
fn approx_age(text: &str) -> Option<f64> {
    let number = text.trim_start_matches('~').split_whitespace().next()?;
    let mut parts = number.split('-').filter_map(|p| p.parse::<f64>().ok());
    let lo = parts.next()?;
    Some(parts.next().map_or(lo, |hi| (lo + hi) / 2.0))
}

fn group(age: f64) -> f64 {
    match age {
        a if a < 13.0 => 0.0,
        a if a < 20.0 => 1.0,
        _ => 2.0,
    }
}

/// Ranks with ties averaged.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        for k in i..=j {
            r[idx[k]] = (i + j) as f64 / 2.0;
        }
        i = j + 1;
    }
    r
}

fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[test]
fn estimated_ages_put_children_before_teens_before_adults() {
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::testdata().join("manifest.json")).expect("manifest"),
    )
    .expect("json");
    let analyzer = FaceAnalyzer::load(tch::Device::Cpu).expect("face models");
    let options = IntakeOptions::from_config(&Config::default().album);
    let mut by_person: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut abs_errors = Vec::new();
    for entry in manifest["files"].as_array().expect("files") {
        if entry["kind"] != "person" {
            continue;
        }
        let rel = entry["file"].as_str().expect("file");
        let truth = approx_age(entry["approx_age"].as_str().expect("approx_age")).expect("age");
        let album = album::intake(&[common::photo(rel)], &options, &|| {});
        let faces = analyzer.analyze(&album.photos[0].image);
        let estimate = faces
            .iter()
            .find_map(|f| f.estimated_age)
            .unwrap_or_else(|| panic!("no age for {rel}")) as f64;
        abs_errors.push((estimate - truth).abs());
        eprintln!("{rel}: manifest ~{truth}, network {estimate:.1}");
        by_person
            .entry(entry["person"].as_str().expect("person").to_string())
            .or_default()
            .push((truth, estimate));
    }
    let mae = abs_errors.iter().sum::<f64>() / abs_errors.len() as f64;
    eprintln!(
        "mean absolute error against the visual estimates: {mae:.1} years over {} photos",
        abs_errors.len()
    );
    for (person, pairs) in &by_person {
        let groups: Vec<f64> = pairs.iter().map(|p| group(p.0)).collect();
        if groups.iter().all(|g| *g == groups[0]) {
            continue; // one age group only: nothing coarse to rank
        }
        let estimates: Vec<f64> = pairs.iter().map(|p| p.1).collect();
        let rho = spearman(&groups, &estimates);
        eprintln!("{person}: Spearman {rho:.2} between age group and estimate");
        assert!(rho >= 0.8, "{person}: Spearman {rho:.2}");
        // Against the visual estimates themselves, for people who span ages (a few years
        // between adult photos is within the estimates' own error).
        let truths: Vec<f64> = pairs.iter().map(|p| p.0).collect();
        let rho = spearman(&truths, &estimates);
        eprintln!("{person}: Spearman {rho:.2} between the manifest's ages and the estimates");
        assert!(rho >= 0.85, "{person}: Spearman {rho:.2}");
    }
}
