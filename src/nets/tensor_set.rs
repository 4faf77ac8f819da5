//! Named tensors of a checkpoint, as the generative networks take them: looked up by name with
//! a clear error for a missing or misshapen one, so an architecture is read from the names and
//! shapes rather than assumed.

use std::collections::BTreeMap;
use tch::{Device, Kind, Tensor};

#[derive(Debug, thiserror::Error)]
pub enum TensorSetError {
    #[error("the checkpoint has no tensor {0}")]
    Missing(String),
    #[error("tensor {name} has shape {actual:?}, expected {expected:?}")]
    Shape {
        name: String,
        actual: Vec<i64>,
        expected: Vec<i64>,
    },
    #[error("the checkpoint does not describe a network lifelapse knows: {0}")]
    Architecture(String),
}

/// Tensors by name. Cloning shares the storage.
#[derive(Debug, Default)]
pub struct TensorSet {
    tensors: BTreeMap<String, Tensor>,
}

impl Clone for TensorSet {
    fn clone(&self) -> Self {
        Self {
            tensors: self
                .tensors
                .iter()
                .map(|(k, v)| (k.clone(), v.shallow_clone()))
                .collect(),
        }
    }
}

impl TensorSet {
    pub fn new(tensors: BTreeMap<String, Tensor>) -> Self {
        Self { tensors }
    }

    pub fn insert(&mut self, name: impl Into<String>, tensor: Tensor) {
        self.tensors.insert(name.into(), tensor);
    }

    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.tensors.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The tensors under `prefix.`, with the prefix removed.
    pub fn subset(&self, prefix: &str) -> TensorSet {
        let dotted = format!("{prefix}.");
        TensorSet::new(
            self.tensors
                .iter()
                .filter_map(|(k, v)| {
                    k.strip_prefix(&dotted)
                        .map(|rest| (rest.to_string(), v.shallow_clone()))
                })
                .collect(),
        )
    }

    /// The tensor `name`, any shape.
    pub fn get(&self, name: &str) -> Result<&Tensor, TensorSetError> {
        self.tensors
            .get(name)
            .ok_or_else(|| TensorSetError::Missing(name.to_string()))
    }

    pub fn shape(&self, name: &str) -> Result<Vec<i64>, TensorSetError> {
        Ok(self.get(name)?.size())
    }

    /// The tensor `name` as float on `device`, checked against `expected` (−1 matches any size).
    pub fn take(
        &self,
        name: &str,
        expected: &[i64],
        device: Device,
        kind: Kind,
    ) -> Result<Tensor, TensorSetError> {
        let tensor = self.get(name)?;
        let actual = tensor.size();
        let fits = actual.len() == expected.len()
            && actual.iter().zip(expected).all(|(a, e)| *e < 0 || a == e);
        if !fits {
            return Err(TensorSetError::Shape {
                name: name.to_string(),
                actual,
                expected: expected.to_vec(),
            });
        }
        Ok(tensor.to_device(device).to_kind(kind))
    }

    /// Every tensor moved to `device` (and floating ones to `kind`).
    pub fn to(&self, device: Device, kind: Kind) -> TensorSet {
        TensorSet::new(
            self.tensors
                .iter()
                .map(|(k, v)| {
                    let moved = if v.is_floating_point() {
                        v.to_device(device).to_kind(kind)
                    } else {
                        v.to_device(device)
                    };
                    (k.clone(), moved)
                })
                .collect(),
        )
    }

    /// Whether any name starts with `prefix.`.
    pub fn has_prefix(&self, prefix: &str) -> bool {
        let dotted = format!("{prefix}.");
        self.tensors
            .range(dotted.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&dotted))
    }

    /// How many consecutive `prefix.N` groups exist, counting from 0.
    pub fn count_indexed(&self, prefix: &str) -> usize {
        (0..)
            .take_while(|i| self.has_prefix(&format!("{prefix}.{i}")))
            .count()
    }
}
