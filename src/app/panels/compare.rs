//! Comparing SAE candidates: their evaluation scores once `safe-sail evaluate` has run, and
//! one prompt through two candidates side by side.

use crate::app::ctx::{SaeSlot, ViewCtx};
use crate::app::style::{domain_color, NEURON_COLOR};
use crate::app::widgets::{StripToken, TokenStrip};
use crate::app::Command;
use crate::domains::SAFETY_DOMAINS;
use crate::inspect::{token_rows, Analysis, Normalizer};
use eframe::egui::{self, RichText, Sense};

/// One candidate's row: what is known without an evaluation run.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateRow {
    pub name: String,
    pub layer: usize,
    pub width: usize,
    pub activation: String,
    /// Mean active latents per token over the feature store's corpus.
    pub l0: Option<f64>,
    /// Share of latents never active over the store's corpus.
    pub dead: Option<f64>,
    /// Share of latents active on more than 10% of tokens.
    pub dense: Option<f64>,
    pub mean_score: Option<f64>,
    /// Explained neurons per safety domain.
    pub domains: [usize; 4],
    /// From `safe-sail evaluate`.
    pub explained_variance: Option<f64>,
    pub ce_loss_recovered: Option<f64>,
    /// Safe-SAIL L0,t and specific latents per domain, from `safe-sail evaluate`.
    pub l0t: [Option<f64>; 4],
    pub specific: [Option<f64>; 4],
}

/// The candidates' rows from their SAEs, feature stores, evaluations and neuron databases.
pub fn candidate_rows(slots: &[SaeSlot]) -> Vec<CandidateRow> {
    slots
        .iter()
        .map(|c| {
            let info = c.info.as_ref();
            let store = c.store.as_ref();
            let prefix = format!("{}_", c.layer);
            let recs: Vec<&crate::db::NeuronRecord> =
                c.db.records
                    .iter()
                    .filter(|(k, _)| k.starts_with(&prefix))
                    .map(|(_, r)| r)
                    .collect();
            let scores: Vec<f64> = recs.iter().filter_map(|r| r.live_score()).collect();
            let mut domains = [0usize; 4];
            for r in &recs {
                for (d, name) in SAFETY_DOMAINS.iter().enumerate() {
                    if r.tag_list.iter().any(|t| t == name) {
                        domains[d] += 1;
                    }
                }
            }
            let ev = c.eval.as_ref();
            let defined = |x: f64| Some(x).filter(|x| !x.is_nan());
            let fid = |f: fn(&crate::eval::fidelity::FidelityRow) -> f64| {
                ev.and_then(|e| defined(f(&e.fidelity)))
            };
            let (l0, dead, dense) = match store {
                Some(st) if st.meta.tokens > 0 => {
                    let (dead, dense) = crate::eval::fidelity::dead_dense_fractions(
                        st.features.iter().map(|f| f.count),
                        st.meta.tokens,
                    );
                    (
                        Some(
                            st.features.iter().map(|f| f.count).sum::<u64>() as f64
                                / st.meta.tokens as f64,
                        ),
                        Some(dead),
                        Some(dense),
                    )
                }
                _ => (
                    fid(|f| f.l0),
                    fid(|f| f.dead_fraction),
                    fid(|f| f.dense_fraction),
                ),
            };
            CandidateRow {
                name: c.name.clone(),
                layer: info.map_or(c.layer, |i| i.layer),
                width: info.map_or(0, |i| i.d_sae),
                activation: info.map_or("—".into(), |i| i.activation.clone()),
                l0,
                dead,
                dense,
                mean_score: (!scores.is_empty())
                    .then(|| scores.iter().sum::<f64>() / scores.len() as f64),
                domains,
                explained_variance: fid(|f| f.explained_variance),
                ce_loss_recovered: fid(|f| f.ce_loss_recovered),
                l0t: ev.map_or([None; 4], |e| e.domains.l0t),
                specific: ev.map_or([None; 4], |e| e.domains.specific),
            }
        })
        .collect()
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or("—".into(), f)
}

/// The compare view's state.
#[derive(Default)]
pub struct Compare {
    /// Sort column of the candidates table and whether descending.
    pub sort: (usize, bool),
    pub a: usize,
    pub b: usize,
    pub prompt: String,
    pub analysis: Option<Analysis>,
    norm: Option<Normalizer>,
}

/// The sortable columns of the candidates table, in order.
pub const SORT_COLUMNS: [&str; 7] = [
    "Layer",
    "Width",
    "L0",
    "Dead",
    "Dense",
    "Mean score",
    "Safety neurons",
];

/// Sorts candidate rows by column `col` of [`SORT_COLUMNS`] (missing values last when
/// ascending).
pub fn sort_candidates(rows: &mut [CandidateRow], col: usize, descending: bool) {
    let key = |r: &CandidateRow, c: usize| -> f64 {
        match c {
            0 => r.layer as f64,
            1 => r.width as f64,
            2 => r.l0.unwrap_or(f64::NAN),
            3 => r.dead.unwrap_or(f64::NAN),
            4 => r.dense.unwrap_or(f64::NAN),
            5 => r.mean_score.unwrap_or(f64::NAN),
            _ => r.domains.iter().sum::<usize>() as f64,
        }
    };
    rows.sort_by(|a, b| {
        let o = key(a, col).total_cmp(&key(b, col));
        if descending {
            o.reverse()
        } else {
            o
        }
    });
}

impl Compare {
    fn table(&mut self, ui: &mut egui::Ui, slots: &[SaeSlot]) {
        let mut rows = candidate_rows(slots);
        let (col, desc) = self.sort;
        sort_candidates(&mut rows, col, desc);
        use egui_extras::{Column, TableBuilder};
        let headers = SORT_COLUMNS;
        let mut clicked = None;
        ui.push_id("candidates", |ui| {
            TableBuilder::new(ui)
                .striped(true)
                .column(Column::auto().at_least(180.0))
                .columns(Column::auto().at_least(60.0), headers.len() + 4)
                .header(22.0, |mut h| {
                    h.col(|ui| {
                        ui.strong("Candidate");
                    });
                    h.col(|ui| {
                        ui.strong("Activation");
                    });
                    for (i, name) in headers.iter().enumerate() {
                        h.col(|ui| {
                            let arrow = if col == i {
                                if desc {
                                    " ↓"
                                } else {
                                    " ↑"
                                }
                            } else {
                                ""
                            };
                            if ui.button(format!("{name}{arrow}")).clicked() {
                                clicked = Some(i);
                            }
                        });
                    }
                    h.col(|ui| {
                        ui.strong("EV · CE rec.");
                    });
                    h.col(|ui| {
                        ui.strong("L0,t per domain");
                    });
                    h.col(|ui| {
                        ui.strong("Specific per domain");
                    });
                })
                .body(|mut body| {
                    for r in &rows {
                        body.row(20.0, |mut row| {
                            row.col(|ui| {
                                ui.label(&r.name);
                            });
                            row.col(|ui| {
                                ui.label(&r.activation);
                            });
                            let cells = [
                                r.layer.to_string(),
                                r.width.to_string(),
                                opt(r.l0, |v| format!("{v:.1}")),
                                opt(r.dead, |v| format!("{:.1}%", v * 100.0)),
                                opt(r.dense, |v| format!("{:.1}%", v * 100.0)),
                                opt(r.mean_score, |v| format!("{v:.3}")),
                                format!("{:?}", r.domains),
                            ];
                            for c in cells {
                                row.col(|ui| {
                                    ui.label(c);
                                });
                            }
                            row.col(|ui| match (r.explained_variance, r.ce_loss_recovered) {
                                (Some(ev), Some(ce)) => {
                                    ui.label(format!("{ev:.3} · {ce:.3}"));
                                }
                                _ => {
                                    ui.label(RichText::new("— (evaluate)").weak());
                                }
                            });
                            let per_domain = |v: &[Option<f64>; 4]| -> String {
                                if v.iter().all(Option::is_none) {
                                    return "—".into();
                                }
                                v.iter()
                                    .map(|x| x.map_or("—".into(), |x| format!("{x:.0}")))
                                    .collect::<Vec<_>>()
                                    .join(" / ")
                            };
                            row.col(|ui| {
                                ui.label(per_domain(&r.l0t));
                            });
                            row.col(|ui| {
                                ui.label(per_domain(&r.specific));
                            });
                        });
                    }
                });
        });
        if let Some(c) = clicked {
            self.sort = if self.sort.0 == c {
                (c, !self.sort.1)
            } else {
                (c, true)
            };
        }
        ui.label(
            RichText::new("L0, dead and dense come from each SAE's feature store (else its evaluation); EV, CE recovered, L0,t and specific latents from `safe-sail evaluate`; safety neurons per domain and the mean score from the neuron database. Per-domain columns: pornography / politics / violence / terror.")
                .small()
                .weak(),
        );
        let bars: Vec<egui_plot::BarChart> = SAFETY_DOMAINS
            .iter()
            .enumerate()
            .map(|(d, name)| {
                let b: Vec<egui_plot::Bar> = rows
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        egui_plot::Bar::new(i as f64 + d as f64 * 0.2 - 0.3, r.domains[d] as f64)
                            .width(0.18)
                    })
                    .collect();
                egui_plot::BarChart::new(*name, b).color(domain_color(name))
            })
            .collect();
        egui_plot::Plot::new("domain-counts")
            .height(150.0)
            .allow_zoom(false)
            .allow_drag(false)
            .allow_scroll(false)
            .legend(egui_plot::Legend::default())
            .show(ui, |p| {
                for b in bars {
                    p.bar_chart(b);
                }
            });
        let pts: Vec<[f64; 2]> = rows
            .iter()
            .filter_map(|r| Some([r.l0?, r.explained_variance?]))
            .collect();
        if !pts.is_empty() {
            ui.label(RichText::new("L0 vs explained variance (up and left is better)").small());
            egui_plot::Plot::new("pareto")
                .height(160.0)
                .x_axis_label("L0")
                .y_axis_label("explained variance")
                .show(ui, |p| {
                    p.points(egui_plot::Points::new("candidates", pts).radius(5.0))
                });
        }
    }

    pub fn set_analysis(&mut self, a: Analysis, slots: &[SaeSlot]) {
        self.norm = Some(Normalizer::new(&a, slots));
        self.analysis = Some(a);
    }

    /// Draws the view; asks to run the prompt through the candidates when the user does.
    pub fn ui(&mut self, ui: &mut egui::Ui, view: &ViewCtx) -> Option<Command> {
        let (ctx, ready, busy) = (view.slots, view.ready(), view.busy);
        // The evaluation folders the workspace names.
        let evals: Vec<&str> = view
            .workspace
            .iter()
            .flat_map(|w| w.saes.iter())
            .filter_map(|s| s.eval.as_deref())
            .collect();
        ui.heading("Compare SAE candidates");
        self.table(ui, ctx);
        if evals.is_empty() {
            ui.label(
                RichText::new(
                    "No evaluation results in this workspace yet. Score the candidates with\n  safe-sail evaluate --model MODEL \
                     --sae SAE... --corpus GENERAL.jsonl --out EVAL_DIR\nthen add `\"eval\": \"EVAL_DIR\"` to each SAE in the \
                     workspace file: the table of L0, dead %, explained variance, CE loss recovered and safety-specificity \
                     scores and its plots appear here.",
                )
                .weak(),
            );
        } else {
            let mut unique: Vec<&str> = evals;
            unique.sort_unstable();
            unique.dedup();
            ui.label(format!("Evaluation folders: {}", unique.join(", ")));
        }
        ui.separator();
        ui.strong("One prompt through two candidates");
        if ctx.len() < 2 {
            ui.label(RichText::new("The workspace needs at least two SAEs.").weak());
            return None;
        }
        self.a = self.a.min(ctx.len() - 1);
        self.b = self.b.min(ctx.len() - 1);
        if self.a == self.b && ctx.len() > 1 && self.b == 0 {
            self.b = 1;
        }
        let mut run = false;
        ui.horizontal_wrapped(|ui| {
            for (id, which) in [("cmp-a", &mut self.a), ("cmp-b", &mut self.b)] {
                egui::ComboBox::new(id, if id == "cmp-a" { "left" } else { "right" })
                    .selected_text(ctx[*which].name.clone())
                    .show_ui(ui, |ui| {
                        for (i, c) in ctx.iter().enumerate() {
                            ui.selectable_value(which, i, &c.name);
                        }
                    });
            }
        });
        ui.horizontal(|ui| {
            let l = ui.label("Prompt to compare");
            ui.add(egui::TextEdit::singleline(&mut self.prompt).desired_width(420.0))
                .labelled_by(l.id);
            if ui
                .add_enabled(
                    ready && !busy && !self.prompt.trim().is_empty(),
                    egui::Button::new("Run both"),
                )
                .clicked()
            {
                run = true;
            }
            if busy {
                ui.spinner();
            }
        });
        if let (Some(a), Some(norm)) = (&self.analysis, &self.norm) {
            ui.columns(2, |cols| {
                for (col, which) in cols.iter_mut().zip([self.a, self.b]) {
                    side(col, a, ctx, norm, which);
                }
            });
        }
        run.then(|| Command::Compare {
            text: self.prompt.clone(),
        })
    }
}

/// One candidate's view of the prompt: each token shaded by its strongest normalized latent.
fn side(ui: &mut egui::Ui, a: &Analysis, ctx: &[SaeSlot], norm: &Normalizer, sae: usize) {
    let Some(i) = a.saes.iter().position(|s| s.sae == sae) else {
        ui.label(RichText::new("not loaded").weak());
        return;
    };
    let s = &a.saes[i];
    let name = ctx.get(sae).map_or("", |c| c.name.as_str());
    let real: Vec<usize> = (0..a.tokens.len())
        .filter(|&t| !a.tokens[t].special)
        .collect();
    let l0 = real.iter().map(|&t| s.acts[t].len()).sum::<usize>() as f32 / real.len().max(1) as f32;
    let safety = real
        .iter()
        .filter(|&&t| {
            s.acts[t].iter().any(|(l, _)| {
                ctx.get(sae)
                    .and_then(|c| c.record(*l))
                    .is_some_and(|r| r.is_safety())
            })
        })
        .count();
    ui.strong(name);
    ui.label(
        RichText::new(format!(
            "mean active latents per token {l0:.1} · tokens with a safety neuron {safety}/{}",
            real.len()
        ))
        .small(),
    );
    let tokens = real.iter().map(|&t| {
        let best = s.acts[t]
            .iter()
            .map(|&(l, v)| norm.norm(i, l, v))
            .fold(0.0, f32::max);
        StripToken::shaded(&a.tokens[t].text, NEURON_COLOR, best)
    });
    let mut tooltip = |ui: &mut egui::Ui, k: usize| {
        for r in token_rows(a, ctx, norm, real[k], &|l| l == s.layer)
            .iter()
            .filter(|r| r.sae == sae)
            .take(5)
        {
            ui.label(format!(
                "{}  {:.2}  {}",
                r.id,
                r.norm,
                r.explanation.as_deref().unwrap_or("—")
            ));
        }
    };
    TokenStrip::new(tokens)
        .sense(Sense::hover())
        // Not yet: dark text on bright shades would change the pictures.
        .contrast(false)
        .show(ui, Some(&mut tooltip));
}
