//! `safe-sail demo`: the bundled sample's analysis as text for the terminal.

use crate::capture::capture_prompt;
use crate::model::{Model, PromptSpec};
use crate::sae::load_sae;
use anyhow::{bail, Result};
use candle_core::{DType, Device};
use std::fmt::Write;
use std::path::Path;

/// The bundled sample in the terminal: the trained sample model, its chosen layer-1 SAE and
/// neuron database, on a prompt that touches two safety domains.
pub fn demo() -> Result<String> {
    let Some(root) =
        crate::workspace::sample::bundled_sample().and_then(|p| p.parent().map(Path::to_path_buf))
    else {
        bail!(
            "the bundled sample (sample_data/) was not found here, beside the binary or at \
             $SAFE_SAIL_SAMPLE: run from a checkout of the repository or set SAFE_SAIL_SAMPLE"
        );
    };
    let mut out = String::new();
    let model_dir = root.join("model");
    if !model_dir.exists() {
        bail!(
            "the bundled sample is missing its model ({})",
            model_dir.display()
        );
    }
    let model = Model::load_dir(&model_dir, &Device::Cpu, DType::F32)?;
    let sae = load_sae(
        &format!("{}", root.join("saes/L1-mlp_out-w1024-topk16").display()).parse()?,
        &Device::Cpu,
    )?;
    let db = crate::db::NeuronDb::load(&root.join("neurons.json"))?;
    let prompt = PromptSpec {
        text: "Researchers warned that extremist propaganda spreads fast. 如果目睹暴力事件，先确保自身安全。".into(),
        chat: false,
        system: None,
        thinking: None,
        truncate: false,
    };
    let res = capture_prompt(&model, &prompt, &[], std::slice::from_ref(&sae), false)?;
    writeln!(
        out,
        "Safe-SAIL Explorer — the bundled sample (a small Qwen2 trained on the sample corpus)"
    )?;
    writeln!(
        out,
        "model: {} ({} layers, d_model {})",
        model_dir.display(),
        model.cfg.num_layers,
        model.cfg.hidden_size
    )?;
    writeln!(
        out,
        "SAE:   {} at {} ({}, {} latents); neurons: {}\n",
        sae.meta.format.name(),
        sae.hook(),
        sae.activation.describe(),
        sae.d_sae(),
        root.join("neurons.json").display()
    )?;
    let layer = sae.hook().layer;
    let rows = res.sae_acts[0].to_vec2::<f32>()?;
    for (tok, row) in res.tokens.iter().zip(rows) {
        let mut nz: Vec<(usize, f32)> = row
            .into_iter()
            .enumerate()
            .filter(|(_, v)| *v > 0.0)
            .collect();
        nz.sort_by(|a, b| b.1.total_cmp(&a.1));
        let top: Vec<String> = nz
            .iter()
            .take(3)
            .map(|(i, v)| format!("{layer}_{i}={v:.2}"))
            .collect();
        // The strongest safety-tagged neuron on this token (clearly active), with its explanation.
        let safety = nz.iter().filter(|(_, v)| *v >= 0.3).find_map(|&(i, v)| {
            db.get(layer, i as u32)
                .filter(|r| r.is_safety())
                .map(|r| (i, v, r))
        });
        let note = safety.map_or(String::new(), |(i, v, r)| {
            let expl: String = r
                .explanation
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(60)
                .collect();
            format!("  ⚑ {layer}_{i}={v:.2} [{}] {expl}", r.tag_list.join(","))
        });
        let shown = format!("{:?}", tok.text);
        writeln!(
            out,
            "{:>6} {:<18}{} {}{note}",
            tok.id,
            shown,
            if tok.special { " (special)" } else { "" },
            top.join("  ")
        )?;
    }
    writeln!(
        out,
        "\nOpen the explorer window with `safe-sail gui`; see `safe-sail --help` for all commands."
    )?;
    Ok(out)
}
