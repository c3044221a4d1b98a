//! How long the neuron browser takes to filter 102,400 neurons (5 SAEs × 20,480, the
//! Safe-SAIL layout) against the real `en_db.json`.
use safe_sail::app::panels::browser::Browser;
use safe_sail::app::{EngineStatus, SaeSlot, ViewCtx};
use safe_sail::inspect::SaeInfo;
use safe_sail::workspace::Sessions;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let db = safe_sail::db::NeuronDb::load(std::path::Path::new(
        "../shared/external/safe-sail/en_db.json",
    ))?;
    let layers = [0usize, 8, 17, 26, 35];
    let slots: Vec<SaeSlot> = layers
        .iter()
        .map(|&l| SaeSlot {
            name: format!("L{l}"),
            layer: l,
            db: db.clone(),
            info: Some(SaeInfo {
                name: format!("L{l}"),
                hook: format!("blocks.{l}.hook_mlp_out"),
                layer: l,
                d_in: 2304,
                d_sae: 20480,
                activation: "topk:200".into(),
                format: "safe-sail".into(),
            }),
            ..Default::default()
        })
        .collect();
    let sessions = Sessions::default();
    let engine = EngineStatus::Loading(String::new());
    let ctx = ViewCtx {
        workspace: None,
        workspace_path: None,
        slots: &slots,
        sessions: &sessions,
        engine: &engine,
        busy: false,
        streamed: "",
        user: "",
    };
    let mut b = Browser::default();
    b.set_saes(&slots);
    for (what, search, tag) in [
        ("no filter", "", None),
        ("search 'violence'", "violence", None),
        ("tag politics", "", Some("politics")),
        ("search '暴力'", "暴力", None),
    ] {
        b.filters.search = search.into();
        b.filters.tag = tag.map(str::to_string);
        let t = Instant::now();
        b.refilter(&ctx, true);
        println!(
            "{what:>20}: {} of {} rows in {:.1} ms",
            b.shown.len(),
            b.total(),
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    Ok(())
}
