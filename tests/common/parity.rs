//! Tensors against what the reference implementations produced (../shared/fixtures).

use lifelapse::nets::tensor_set::TensorSet;
use std::collections::BTreeMap;
use std::path::Path;
use tch::{Kind, Tensor};

/// Every tensor of a safetensors file, by name.
pub fn tensors(path: &Path) -> TensorSet {
    let tensors = Tensor::read_safetensors(path).expect("read fixture");
    TensorSet::new(tensors.into_iter().collect::<BTreeMap<_, _>>())
}

/// Largest |a − b|; the shapes must match.
pub fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shapes differ");
    (a.to_kind(Kind::Double) - b.to_kind(Kind::Double))
        .abs()
        .max()
        .double_value(&[])
}

pub fn assert_close(name: &str, ours: &Tensor, reference: &Tensor, tolerance: f64) {
    assert_eq!(ours.size(), reference.size(), "{name}: shapes differ");
    let diff = max_diff(ours, reference);
    assert!(
        diff <= tolerance,
        "{name}: max difference {diff:e} exceeds {tolerance:e}"
    );
}
