//! Comparing SAE candidates: their evaluation scores once `safe-sail evaluate` has run, and
//! one prompt through two candidates side by side.

use crate::app::ctx::{SaeSlot, ViewCtx};
use crate::app::style::{domain_color, NEURON_COLOR};
use crate::app::widgets::{StripToken, TokenStrip};
use crate::app::Command;
use crate::domains::SAFETY_DOMAINS;
use crate::families::PartnerShare;
use crate::inspect::{token_rows, Analysis, Normalizer};
use eframe::egui::{self, RichText, Sense};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One candidate's row: what is known without an evaluation run.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateRow {
    /// Its index among the workspace's SAEs.
    pub sae: usize,
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
    /// k-sparse probe accuracy per k of [`crate::eval::probing::PROBE_KS`] and domain, and
    /// TPP per domain, from `safe-sail evaluate` with a labeled corpus.
    pub probe: [[Option<f64>; 4]; 3],
    pub tpp: [Option<f64>; 4],
}

/// The candidates' rows from their SAEs, feature stores, evaluations and neuron databases.
pub fn candidate_rows(slots: &[SaeSlot]) -> Vec<CandidateRow> {
    slots
        .iter()
        .enumerate()
        .map(|(sae, c)| {
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
                sae,
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
                probe: ev.map_or([[None; 4]; 3], |e| {
                    [e.domains.probe_k1, e.domains.probe_k2, e.domains.probe_k5]
                }),
                tpp: ev.map_or([None; 4], |e| e.domains.tpp),
            }
        })
        .collect()
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or("—".into(), f)
}

/// A column of the candidates table (the name column is always shown, left of the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Col {
    Name,
    Activation,
    #[default]
    Layer,
    Width,
    L0,
    Dead,
    Dense,
    MeanScore,
    /// Safety-tagged neurons, all domains.
    Safety,
    /// Safety-tagged neurons of one domain (index into [`SAFETY_DOMAINS`]).
    SafetyIn(usize),
    Ev,
    Ce,
    /// Safe-SAIL L0,t of one domain.
    L0t(usize),
    /// Specific latents of one domain.
    Specific(usize),
    /// k-sparse probe accuracy: (index into [`crate::eval::probing::PROBE_KS`], domain).
    Probe(usize, usize),
    /// Targeted probe perturbation of one domain.
    Tpp(usize),
}

impl Col {
    /// Every column right of the name, in order.
    pub fn all() -> Vec<Col> {
        let mut v = vec![
            Col::Activation,
            Col::Layer,
            Col::Width,
            Col::L0,
            Col::Dead,
            Col::Dense,
            Col::MeanScore,
            Col::Safety,
        ];
        v.extend((0..4).map(Col::SafetyIn));
        v.extend([Col::Ev, Col::Ce]);
        v.extend((0..4).map(Col::L0t));
        v.extend((0..4).map(Col::Specific));
        for k in 0..3 {
            v.extend((0..4).map(|d| Col::Probe(k, d)));
        }
        v.extend((0..4).map(Col::Tpp));
        v
    }

    /// Columns shown only when some candidate has a value (evaluations without a labeled
    /// corpus have none).
    pub fn optional(self) -> bool {
        matches!(self, Col::Probe(..) | Col::Tpp(_))
    }

    /// The header text.
    pub fn title(self) -> String {
        match self {
            Col::Name => "Candidate".into(),
            Col::Activation => "Activation".into(),
            Col::Layer => "Layer".into(),
            Col::Width => "Width".into(),
            Col::L0 => "L0".into(),
            Col::Dead => "Dead".into(),
            Col::Dense => "Dense".into(),
            Col::MeanScore => "Mean score".into(),
            Col::Safety => "Safety neurons".into(),
            Col::SafetyIn(d) => format!("Neurons {}", SAFETY_DOMAINS[d]),
            Col::Ev => "Explained var.".into(),
            Col::Ce => "CE recovered".into(),
            Col::L0t(d) => format!("L0,t {}", SAFETY_DOMAINS[d]),
            Col::Specific(d) => format!("Specific {}", SAFETY_DOMAINS[d]),
            Col::Probe(k, d) => format!(
                "Probe k={} {}",
                crate::eval::probing::PROBE_KS[k],
                SAFETY_DOMAINS[d]
            ),
            Col::Tpp(d) => format!("TPP {}", SAFETY_DOMAINS[d]),
        }
    }

    /// What the column holds, for the header's hover text.
    fn meaning(self) -> &'static str {
        match self {
            Col::Name => "the SAE's name in the workspace",
            Col::Activation => "the SAE's activation function",
            Col::Layer => "the model layer the SAE reads",
            Col::Width => "number of latents",
            Col::L0 => "mean active latents per token (feature store, else evaluation)",
            Col::Dead => "share of latents never active (feature store, else evaluation)",
            Col::Dense => "share of latents active on more than 10% of tokens",
            Col::MeanScore => {
                "mean correlation score of the explained neurons (stale scores left out)"
            }
            Col::Safety => "neurons tagged with any safety domain in the database",
            Col::SafetyIn(_) => "neurons tagged with this domain in the database",
            Col::Ev => "explained variance (safe-sail evaluate)",
            Col::Ce => "CE loss recovered (safe-sail evaluate)",
            Col::L0t(_) => "Safe-SAIL L0,t of this domain (safe-sail evaluate)",
            Col::Specific(_) => "specific latents of this domain (safe-sail evaluate)",
            Col::Probe(..) => {
                "test accuracy of a logistic-regression probe for this domain on the k latents with the largest mean difference (safe-sail evaluate with a labeled corpus; chance 0.5)"
            }
            Col::Tpp(_) => {
                "targeted probe perturbation: ablating this domain's top latents lowers its probe's accuracy minus the mean drop of the other domains' probes (safe-sail evaluate with a labeled corpus; higher is better)"
            }
        }
    }

    /// The chooser's group of the column.
    fn group(self) -> &'static str {
        match self {
            Col::SafetyIn(_) => "Safety neurons per domain",
            Col::L0t(_) => "L0,t per domain",
            Col::Specific(_) => "Specific latents per domain",
            Col::Probe(..) | Col::Tpp(_) => "Probes per domain (labeled corpus)",
            Col::Ev | Col::Ce => "Fidelity (evaluate)",
            _ => "Candidate",
        }
    }

    /// The numeric value sorted by and plotted (`None`: missing, or a text column).
    pub fn value(self, r: &CandidateRow) -> Option<f64> {
        match self {
            Col::Name | Col::Activation => None,
            Col::Layer => Some(r.layer as f64),
            Col::Width => Some(r.width as f64),
            Col::L0 => r.l0,
            Col::Dead => r.dead,
            Col::Dense => r.dense,
            Col::MeanScore => r.mean_score,
            Col::Safety => Some(r.domains.iter().sum::<usize>() as f64),
            Col::SafetyIn(d) => Some(r.domains[d] as f64),
            Col::Ev => r.explained_variance,
            Col::Ce => r.ce_loss_recovered,
            Col::L0t(d) => r.l0t[d],
            Col::Specific(d) => r.specific[d],
            Col::Probe(k, d) => r.probe[k][d],
            Col::Tpp(d) => r.tpp[d],
        }
    }

    /// The cell's text.
    pub fn cell(self, r: &CandidateRow) -> String {
        let pct = |v: f64| format!("{:.1}%", v * 100.0);
        match self {
            Col::Name => r.name.clone(),
            Col::Activation => r.activation.clone(),
            Col::Layer | Col::Width | Col::Safety | Col::SafetyIn(_) => {
                opt(self.value(r), |v| format!("{v:.0}"))
            }
            Col::L0 => opt(r.l0, |v| format!("{v:.1}")),
            Col::Dead => opt(r.dead, pct),
            Col::Dense => opt(r.dense, pct),
            Col::MeanScore | Col::Ev | Col::Ce | Col::Probe(..) | Col::Tpp(_) => {
                opt(self.value(r), |v| format!("{v:.3}"))
            }
            Col::L0t(_) | Col::Specific(_) => opt(self.value(r), |v| format!("{v:.0}")),
        }
    }

    /// Whether the cell is a number (right-aligned).
    fn numeric(self) -> bool {
        !matches!(self, Col::Name | Col::Activation)
    }
}

/// The compare view's state.
#[derive(Default)]
pub struct Compare {
    /// Sort column of the candidates table and whether descending.
    pub sort: (Col, bool),
    /// Columns the user hid with the column chooser.
    pub hidden: Vec<Col>,
    /// Showing the plots (else the table).
    pub plots: bool,
    /// The metric of the metric-against-width plot.
    pub metric: Option<Col>,
    pub a: usize,
    pub b: usize,
    pub prompt: String,
    pub analysis: Option<Analysis>,
    norm: Option<Normalizer>,
    /// Per workspace file: the partner figure of each pair of candidates computed so far
    /// (pair as (lower, higher) position), or why it failed. Kept while the window is open.
    pub partners: HashMap<PathBuf, PartnerFigures>,
    /// A [`Command::ComputePartners`] is running.
    pub partners_running: bool,
}

/// Each pair of candidates' partner figure (pair as (lower, higher) position), or why it
/// failed.
pub type PartnerFigures = HashMap<(usize, usize), Result<PartnerShare, String>>;

/// The decoder cosine at or above which two latents count as partners in the Compare view.
pub const PARTNER_THRESHOLD: f32 = 0.7;

/// The pairs of candidates (positions, lower first) that read spaces of the same size, by
/// `d_in` group: each group's members in workspace order.
pub fn same_space_groups(slots: &[SaeSlot]) -> Vec<(usize, Vec<usize>)> {
    let mut groups: Vec<(usize, Vec<usize>)> = vec![];
    for (i, s) in slots.iter().enumerate() {
        let Some(d) = s.info.as_ref().map(|i| i.d_in) else {
            continue;
        };
        match groups.iter_mut().find(|g| g.0 == d) {
            Some(g) => g.1.push(i),
            None => groups.push((d, vec![i])),
        }
    }
    groups.retain(|g| g.1.len() > 1);
    groups
}

/// Sorts candidate rows by `col` (text columns by text; missing values last when ascending).
pub fn sort_candidates(rows: &mut [CandidateRow], col: Col, descending: bool) {
    rows.sort_by(|a, b| {
        let o = match col {
            Col::Name => a.name.cmp(&b.name),
            Col::Activation => a.activation.cmp(&b.activation),
            c => {
                let key = |r: &CandidateRow| c.value(r).unwrap_or(f64::NAN);
                key(a).total_cmp(&key(b))
            }
        };
        if descending {
            o.reverse()
        } else {
            o
        }
    });
}

/// The metric-against-width plot's data: per layer and architecture (the activation with its
/// setting, `topk:8`) a line of (log2 width, value) points by width, named `layer L · ARCH`;
/// and the points of the candidates `chosen(sae)` holds for.
#[allow(clippy::type_complexity)]
pub fn metric_by_width(
    rows: &[CandidateRow],
    metric: Col,
    chosen: impl Fn(usize) -> bool,
) -> (Vec<(String, Vec<[f64; 2]>)>, Vec<[f64; 2]>) {
    let arch = |r: &CandidateRow| r.activation.clone();
    let at = |r: &CandidateRow| {
        Some([(r.width as f64).log2(), metric.value(r)?]).filter(|_| r.width > 0)
    };
    let mut groups: Vec<(usize, String)> = rows.iter().map(|r| (r.layer, arch(r))).collect();
    groups.sort();
    groups.dedup();
    let lines = groups
        .iter()
        .map(|(layer, a)| {
            let mut pts: Vec<[f64; 2]> = rows
                .iter()
                .filter(|r| r.layer == *layer && arch(r) == *a)
                .filter_map(at)
                .collect();
            pts.sort_by(|p, q| p[0].total_cmp(&q[0]));
            (format!("layer {layer} · {a}"), pts)
        })
        .filter(|(_, p)| !p.is_empty())
        .collect();
    let marked = rows
        .iter()
        .filter(|r| chosen(r.sae))
        .filter_map(at)
        .collect();
    (lines, marked)
}

/// The plots' note on the mouse: the wheel scrolls the page.
const PLOT_HINT: &str =
    "The wheel scrolls the page; Ctrl+wheel zooms a plot, dragging pans it, a double click resets it.";

impl Compare {
    /// Forgets the one-prompt comparison and the chosen candidates (a new workspace opens);
    /// the table's sort and columns stay.
    pub fn workspace_changed(&mut self) {
        self.analysis = None;
        self.norm = None;
        self.a = 0;
        self.b = 1;
    }

    /// A sort button for column `c` in a header cell.
    fn sort_button(&self, ui: &mut egui::Ui, c: Col, clicked: &mut Option<Col>) {
        let arrow = match self.sort {
            (s, true) if s == c => " ↓",
            (s, false) if s == c => " ↑",
            _ => "",
        };
        let b = ui
            .add(egui::Button::new(format!("{}{arrow}", c.title())).frame(false))
            .on_hover_text(format!("{}. Click to sort.", c.meaning()));
        if b.clicked() {
            *clicked = Some(c);
        }
    }

    /// The column chooser: a menu of check boxes, grouped.
    fn chooser(&mut self, ui: &mut egui::Ui) {
        let hidden = self.hidden.len();
        let title = if hidden == 0 {
            "Columns…".to_string()
        } else {
            format!("Columns… ({hidden} hidden)")
        };
        // The menu stays open while boxes are ticked.
        let config = egui::containers::menu::MenuConfig::new()
            .close_behavior(egui::PopupCloseBehavior::CloseOnClickOutside);
        egui::containers::menu::MenuButton::new(title)
            .config(config)
            .ui(ui, |ui| {
                let mut group = "";
                for c in Col::all() {
                    if c.group() != group {
                        group = c.group();
                        ui.label(RichText::new(group).small().weak());
                    }
                    let mut on = !self.hidden.contains(&c);
                    if ui.checkbox(&mut on, c.title()).changed() {
                        if on {
                            self.hidden.retain(|h| *h != c);
                        } else {
                            self.hidden.push(c);
                        }
                    }
                }
                if ui.button("Show all").clicked() {
                    self.hidden.clear();
                }
            });
    }

    fn table(&mut self, ui: &mut egui::Ui, rows: &[CandidateRow]) {
        use egui_extras::{Column, TableBuilder};
        const ROW: f32 = 20.0;
        const HEAD: f32 = 24.0;
        let cols: Vec<Col> = Col::all()
            .into_iter()
            .filter(|c| !self.hidden.contains(c))
            .filter(|c| !c.optional() || rows.iter().any(|r| c.value(r).is_some()))
            .collect();
        // Per column: the widest cell, so numbers line up on the right.
        let widths: Vec<usize> = cols
            .iter()
            .map(|c| {
                rows.iter()
                    .map(|r| c.cell(r).chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut clicked = None;
        ui.horizontal_top(|ui| {
            ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Extend);
            // The name column stays; the others scroll sideways.
            // (Each table in a vertical layout: its body goes under its header.)
            ui.vertical(|ui| {
                ui.push_id("candidate-names", |ui| {
                    TableBuilder::new(ui)
                        .striped(true)
                        .vscroll(false)
                        .column(Column::auto().at_least(140.0))
                        .header(HEAD, |mut h| {
                            h.col(|ui| self.sort_button(ui, Col::Name, &mut clicked));
                        })
                        .body(|mut body| {
                            for r in rows {
                                body.row(ROW, |mut row| {
                                    row.col(|ui| {
                                        ui.label(&r.name);
                                    });
                                });
                            }
                        });
                });
            });
            egui::ScrollArea::horizontal()
                .id_salt("candidate-columns")
                .show(ui, |ui| {
                    ui.vertical(|ui| {
                        ui.push_id("candidate-values", |ui| {
                            TableBuilder::new(ui)
                                .striped(true)
                                .vscroll(false)
                                .columns(Column::auto().at_least(48.0), cols.len())
                                .header(HEAD, |mut h| {
                                    for c in &cols {
                                        h.col(|ui| self.sort_button(ui, *c, &mut clicked));
                                    }
                                })
                                .body(|mut body| {
                                    for r in rows {
                                        body.row(ROW, |mut row| {
                                            for (c, w) in cols.iter().zip(widths.iter().copied()) {
                                                row.col(|ui| {
                                                    let text = c.cell(r);
                                                    if c.numeric() {
                                                        ui.label(
                                                            RichText::new(format!("{text:>w$}"))
                                                                .monospace(),
                                                        );
                                                    } else {
                                                        ui.label(text);
                                                    }
                                                });
                                            }
                                        });
                                    }
                                });
                        });
                    });
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
            RichText::new("L0, dead and dense come from each SAE's feature store (else its evaluation); explained variance, CE recovered, L0,t and specific latents from `safe-sail evaluate`; safety neurons and the mean score from the neuron database. Hover a header for its meaning; click it to sort.")
                .small()
                .weak(),
        );
    }

    fn plots_view(&mut self, ui: &mut egui::Ui, rows: &[CandidateRow], view: &ViewCtx) {
        ui.label(RichText::new(PLOT_HINT).small().weak());
        ui.label(RichText::new("Safety neurons per domain").small());
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
                            .name(&r.name)
                    })
                    .collect();
                egui_plot::BarChart::new(*name, b).color(domain_color(name))
            })
            .collect();
        let names: Vec<String> = rows.iter().map(|r| r.name.clone()).collect();
        egui_plot::Plot::new("domain-counts")
            .height(150.0)
            .x_axis_formatter(move |m, _| {
                let i = m.value.round();
                match names.get(i as usize) {
                    Some(n) if (m.value - i).abs() < 1e-6 && i >= 0.0 => n.clone(),
                    _ => String::new(),
                }
            })
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
                .allow_scroll(false)
                .x_axis_label("L0")
                .y_axis_label("explained variance")
                .show(ui, |p| {
                    p.points(egui_plot::Points::new("candidates", pts).radius(5.0))
                });
        }
        self.width_plot(ui, rows, view);
    }

    /// One metric against the SAE width: a line per layer and architecture, the candidates
    /// chosen for the inspector marked.
    fn width_plot(&mut self, ui: &mut egui::Ui, rows: &[CandidateRow], view: &ViewCtx) {
        let metrics: Vec<Col> = Col::all()
            .into_iter()
            .filter(|c| c.numeric() && !matches!(c, Col::Layer | Col::Width))
            .collect();
        let metric = self.metric.unwrap_or(Col::L0);
        ui.horizontal(|ui| {
            let l = ui.label("Metric against width");
            egui::ComboBox::from_id_salt("metric-by-width")
                .selected_text(metric.title())
                .height(420.0)
                .show_ui(ui, |ui| {
                    for m in &metrics {
                        ui.selectable_value(&mut self.metric, Some(*m), m.title());
                    }
                })
                .response
                .labelled_by(l.id);
        });
        let metric = self.metric.unwrap_or(Col::L0);
        let (lines, chosen) = metric_by_width(rows, metric, |sae| view.inspected(sae));
        if lines.is_empty() {
            ui.label(
                RichText::new(format!("No candidate has a value for {}.", metric.title())).weak(),
            );
            return;
        }
        egui_plot::Plot::new("metric-by-width")
            .height(200.0)
            // Room beside the lines' ends for the legend.
            .set_margin_fraction(egui::vec2(0.25, 0.1))
            .allow_scroll(false)
            .legend(egui_plot::Legend::default())
            .x_axis_label("width (latents, log scale)")
            .y_axis_label(metric.title())
            // Widths at the powers of two only.
            .x_axis_formatter(|m, _| {
                if (m.value - m.value.round()).abs() < 1e-6 {
                    format!("{:.0}", 2f64.powf(m.value.round()))
                } else {
                    String::new()
                }
            })
            .show(ui, |p| {
                let n = lines.len().max(1) as f32;
                for (k, (name, pts)) in lines.into_iter().enumerate() {
                    // One distinct hue per line, its points in the same colour.
                    let c: egui::Color32 =
                        egui::ecolor::Hsva::new((0.55 + k as f32 / n).fract(), 0.7, 0.95, 1.0)
                            .into();
                    p.line(
                        egui_plot::Line::new(name.clone(), pts.clone())
                            .width(2.0)
                            .color(c),
                    );
                    p.points(egui_plot::Points::new(name, pts).radius(3.5).color(c));
                }
                if !chosen.is_empty() {
                    p.points(
                        egui_plot::Points::new("chosen for the inspector", chosen)
                            .shape(egui_plot::MarkerShape::Diamond)
                            .filled(false)
                            .radius(8.0)
                            .color(NEURON_COLOR),
                    );
                }
            });
    }

    /// Records one pair's partner figure for workspace `ws` (figures at another threshold than
    /// [`PARTNER_THRESHOLD`] are not kept).
    pub fn set_partners(
        &mut self,
        ws: &Path,
        (a, b): (usize, usize),
        threshold: f32,
        share: Result<PartnerShare, String>,
    ) {
        if threshold != PARTNER_THRESHOLD {
            return;
        }
        self.partners
            .entry(ws.to_path_buf())
            .or_default()
            .insert((a.min(b), a.max(b)), share);
    }

    /// The partner figures: per group of candidates reading the same space, a matrix of the
    /// share of latents with a partner ≥ [`PARTNER_THRESHOLD`], and a button that computes the
    /// missing pairs on the engine thread.
    fn partners_view(&mut self, ui: &mut egui::Ui, view: &ViewCtx) -> Option<Command> {
        let mut action = None;
        let groups = same_space_groups(view.slots);
        let ws = view
            .workspace_path
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let known = self.partners.get(&ws);
        let missing: Vec<(usize, usize)> = groups
            .iter()
            .flat_map(|(_, g)| {
                g.iter()
                    .enumerate()
                    .flat_map(move |(k, &a)| g[k + 1..].iter().map(move |&b| (a, b)))
            })
            .filter(|p| known.is_none_or(|m| !m.contains_key(p)))
            .collect();
        ui.label(
            RichText::new(format!(
                "Per pair of candidates reading the same space: the share of the narrower one's latents whose \
                 one-to-one partner (optimal matching by decoder cosine, as `safe-sail match`) has cosine ≥ {PARTNER_THRESHOLD}."
            ))
            .small()
            .weak(),
        );
        if groups.is_empty() {
            ui.label(
                RichText::new("No two loaded candidates read a space of the same size.").weak(),
            );
            return None;
        }
        ui.horizontal(|ui| {
            let label = format!("Compute partners ≥ {PARTNER_THRESHOLD}");
            let can = view.ready() && !view.busy && !missing.is_empty();
            if ui
                .add_enabled(can, egui::Button::new(label))
                .on_hover_text(
                    "Matches each pair not computed yet (O(n²) per pair) on the engine thread",
                )
                .clicked()
            {
                action = Some(Command::ComputePartners {
                    pairs: missing.clone(),
                    threshold: PARTNER_THRESHOLD,
                });
            }
            if self.partners_running {
                crate::app::widgets::spinner(ui);
                ui.label(format!("{} pairs to go", missing.len()));
                if ui.button("Stop").clicked() {
                    action = Some(Command::Cancel);
                }
            } else if missing.is_empty() {
                ui.label(RichText::new("every pair computed").small().weak());
            } else {
                ui.label(
                    RichText::new(format!("{} pairs not computed", missing.len()))
                        .small()
                        .weak(),
                );
            }
        });
        for (d_in, g) in &groups {
            ui.label(RichText::new(format!("d_in {d_in}")).small().strong());
            egui::ScrollArea::horizontal()
                .id_salt(("partners", *d_in))
                .show(ui, |ui| {
                    egui::Grid::new(("partners-grid", *d_in))
                        .striped(true)
                        .spacing([10.0, 3.0])
                        .show(ui, |ui| {
                            ui.label("");
                            for (k, &j) in g.iter().enumerate() {
                                ui.label(RichText::new(format!("#{}", k + 1)).strong())
                                    .on_hover_text(&view.slots[j].name);
                            }
                            ui.end_row();
                            for (k, &i) in g.iter().enumerate() {
                                ui.label(format!("#{} {}", k + 1, view.slots[i].name));
                                for &j in g {
                                    let cell = known.and_then(|m| m.get(&(i.min(j), i.max(j))));
                                    match cell {
                                        _ if i == j => {
                                            ui.label(RichText::new("—").weak());
                                        }
                                        Some(Ok(p)) => {
                                            ui.label(RichText::new(format!("{:.0}%", 100.0 * p.share())).monospace())
                                                .on_hover_text(format!(
                                                    "{} of {} latents have a partner ≥ {PARTNER_THRESHOLD} ({})",
                                                    p.partners,
                                                    p.pairs,
                                                    if p.exact { "optimal matching" } else { "greedy matching" }
                                                ));
                                        }
                                        Some(Err(e)) => {
                                            ui.colored_label(ui.visuals().error_fg_color, "error")
                                                .on_hover_text(e);
                                        }
                                        None => {
                                            ui.label(RichText::new("·").weak());
                                        }
                                    }
                                }
                                ui.end_row();
                            }
                        });
                });
        }
        action
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
        let mut rows = candidate_rows(ctx);
        let (col, desc) = self.sort;
        sort_candidates(&mut rows, col, desc);
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.plots, false, "Table");
            ui.selectable_value(&mut self.plots, true, "Plots");
            if !self.plots {
                ui.separator();
                self.chooser(ui);
            }
        });
        if self.plots {
            self.plots_view(ui, &rows, view);
        } else {
            self.table(ui, &rows);
        }
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
        let mut partners_action = None;
        egui::CollapsingHeader::new(format!("Partners ≥ {PARTNER_THRESHOLD} between candidates"))
            .default_open(true)
            .show(ui, |ui| partners_action = self.partners_view(ui, view));
        ui.separator();
        ui.strong("One prompt through two candidates");
        if ctx.len() < 2 {
            ui.label(RichText::new("The workspace needs at least two SAEs.").weak());
            return partners_action;
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
                crate::app::widgets::spinner(ui);
            }
        });
        if let (Some(a), Some(norm)) = (&self.analysis, &self.norm) {
            ui.columns(2, |cols| {
                for (col, which) in cols.iter_mut().zip([self.a, self.b]) {
                    side(col, a, ctx, norm, which);
                }
            });
        }
        partners_action.or(run.then(|| Command::Compare {
            text: self.prompt.clone(),
        }))
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
        .show(ui, Some(&mut tooltip));
}
