//! `sportello`: finds the help desk nearest to a migrant worker, in their language, for their need.
//!
//! Layers, each importing only the ones below it: `http` (axum) → `query` (pure operations) →
//! `index` (R-tree, tantivy, bundles) and `locate` (IP databases, gazetteer) → `ingest` (reading
//! and validating data) → `model`.

pub mod export;
pub mod basemap;
pub mod http;
pub mod index;
pub mod ingest;
pub mod locate;
pub mod logging;
pub mod model;
pub mod pipeline;
pub mod natural_earth;
pub mod query;
pub mod synth;
pub mod tiles;

#[doc(hidden)]
pub mod fuzzing;
