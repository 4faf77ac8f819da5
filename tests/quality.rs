//! The time-lapse quality metrics on real faces: the ghosting score must rank a deliberate
//! 50/50 overlay of two different people's aligned faces as worse than either face.

mod common;

use image::RgbImage;
use lifelapse::face::{align, FaceAnalyzer};
use lifelapse::lapse::{blend, metrics};

fn aligned(analyzer: &FaceAnalyzer, rel: &str) -> RgbImage {
    let img = image::open(common::photo(rel)).expect("photo").into_rgb8();
    let faces = analyzer.analyze(&img);
    let face = faces.first().unwrap_or_else(|| panic!("no face in {rel}"));
    align::align(&img, face.quad, 256)
}

#[test]
fn an_overlay_of_two_faces_scores_as_ghosting() {
    let analyzer = FaceAnalyzer::load(tch::Device::Cpu).expect("face models");
    let pairs = [
        ("faces/barack_obama/01.jpg", "faces/jennifer_aniston/01.jpg"),
        (
            "faces/mark_zuckerberg/01.jpg",
            "faces/angelina_jolie/05.jpg",
        ),
        ("faces/jennifer_aniston/03.jpg", "faces/barack_obama/02.jpg"),
    ];
    for (a, b) in pairs {
        let (fa, fb) = (aligned(&analyzer, a), aligned(&analyzer, b));
        let overlay = blend::mix(&fa, &fb, 0.5);
        let (ea, eb) = (metrics::edge_map(&fa), metrics::edge_map(&fb));
        let score = |img: &RgbImage| metrics::ghosting(&metrics::edge_map(img), &ea, &eb);
        let (ga, gb, go) = (score(&fa), score(&fb), score(&overlay));
        eprintln!("{a} {ga:.1}  {b} {gb:.1}  overlay {go:.1}");
        assert!(
            go > ga && go > gb,
            "{a} + {b}: overlay {go:.1} vs {ga:.1}, {gb:.1}"
        );
        assert!(go >= 20.0, "overlay of {a} and {b} only scored {go:.1}");
    }
}
