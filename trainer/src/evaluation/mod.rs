//! Deterministic evaluation of a trained GAN: point data (mode coverage, marginals), image
//! data (classifier features), and the metric functions behind both.

pub mod classifier;
pub mod image_metrics;
pub mod images;
pub mod metrics;
pub mod points;
