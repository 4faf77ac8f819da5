//! Leaves: small pieces several modules share that know nothing of the product's flow (they
//! import no other module of the crate), so sharing them makes no dependency run backwards.

pub mod cancel;
pub mod cause;
pub mod font;
pub mod hash;
pub mod mask;
pub mod resize;
