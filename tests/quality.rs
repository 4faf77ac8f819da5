//! The time-lapse quality metrics on real faces: the ghosting score must rank a deliberate
//! 50/50 overlay of two different people's aligned photos as worse than either photo, over the
//! face, over the whole frame and in every region around it, and a photo alone scores 0.

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
        let regions = metrics::RegionMap::ffhq(fa.width(), fa.height());
        let (ea, eb) = (regions.edges(&fa), regions.edges(&fb));
        let score = |img: &RgbImage| metrics::region_ghosting(&regions.edges(img), &ea, &eb);
        let (ga, gb, go) = (score(&fa), score(&fb), score(&overlay));
        eprintln!("{a} + {b}: overlay {go:?}");
        assert_eq!(ga, metrics::RegionGhosting::default(), "{a} alone");
        assert_eq!(gb, metrics::RegionGhosting::default(), "{b} alone");
        let parts = [
            ("face", go.face),
            ("whole frame", go.full),
            ("hair", go.hair),
            ("clothes", go.clothes),
            ("background", go.background),
        ];
        for (part, score) in parts {
            assert!(
                score >= 20.0,
                "{a} + {b}: overlay's {part} only scored {score:.1}"
            );
        }
        // The face-only score is the face region of the whole-frame field.
        let face = metrics::ghosting(
            &metrics::edge_map(&overlay),
            &metrics::edge_map(&fa),
            &metrics::edge_map(&fb),
        );
        assert!((face - go.face).abs() < 1e-9);
    }
}
