//! What the commands load, named as the user names it: a model (folder or hub id) with its
//! device and precision, and SAEs in the `PATH[,key=value...]` form.

use crate::device::{parse_device, parse_dtype};
use crate::model::Model;
use crate::sae::{load_sae, Sae, SaeSpec};
use anyhow::Result;
use candle_core::Device;

/// A model as the user named it: a folder or hub id, `cpu`/`cuda:N`/`metal`, `f32`/`bf16`/`f16`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    pub model: String,
    pub dtype: String,
    pub device: String,
    /// Hide the chat markers from attention (see [`Model::mask_special_attention`]).
    pub mask_special_attention: bool,
}

impl ModelSpec {
    /// Parses the device and precision, then loads the model.
    pub fn load(&self) -> Result<Model> {
        let device = parse_device(&self.device)?;
        let dtype = parse_dtype(&self.dtype)?;
        let mut m = Model::load(&self.model, &device, dtype)?;
        m.mask_special_attention = self.mask_special_attention;
        Ok(m)
    }
}

/// Loads SAEs given as `PATH[,key=value...]` onto a device.
pub fn load_saes(specs: &[String], device: &Device) -> Result<Vec<Sae>> {
    specs
        .iter()
        .map(|s| load_sae(&s.parse::<SaeSpec>()?, device))
        .collect()
}

/// What `sae-info` reports about a loaded SAE.
#[derive(Debug, serde::Serialize)]
pub struct SaeSummary<'a> {
    pub meta: &'a crate::sae::SaeMeta,
    pub activation: String,
    pub has_decoder: bool,
    pub subtracts_input_bias: bool,
    pub input_scale: f64,
}

impl<'a> SaeSummary<'a> {
    /// Describes `sae`.
    pub fn of(sae: &'a Sae) -> Self {
        Self {
            meta: &sae.meta,
            activation: sae.activation.describe(),
            has_decoder: sae.w_dec.is_some(),
            subtracts_input_bias: sae.input_bias.is_some(),
            input_scale: sae.input_scale,
        }
    }
}

/// What `indices` reports about a Safe-SAIL neuron-index file.
#[derive(Debug, serde::Serialize)]
pub struct IndexSummary {
    pub file: std::path::PathBuf,
    pub count: usize,
    pub unique: usize,
    pub min: Option<i64>,
    pub max: Option<i64>,
    /// The first ten ids, in file order.
    pub first: Vec<i64>,
}

/// Reads a Safe-SAIL neuron-index file (`indices_layer{L}.pt`) and summarises it.
pub fn index_summary(file: &std::path::Path) -> Result<IndexSummary> {
    let idx = crate::sae::read_index_file(file)?;
    let unique: std::collections::BTreeSet<i64> = idx.iter().copied().collect();
    Ok(IndexSummary {
        file: file.to_path_buf(),
        count: idx.len(),
        unique: unique.len(),
        min: unique.first().copied(),
        max: unique.last().copied(),
        first: idx.iter().take(10).copied().collect(),
    })
}
