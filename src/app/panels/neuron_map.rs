//! The Neurons view's map: every latent of one SAE as a point of its 2-D decoder map
//! ([`crate::families::map`]), coloured by its domain tag (grey when untagged). The browser's
//! search and filters light up the matching points; hovering shows a neuron's id and
//! explanation; a click opens its page. Scroll zooms, dragging pans, a double click resets.
//!
//! The points are drawn as one mesh of small squares (one quad each), so 20,480 of them cost
//! about as much as a few widgets; the map itself is computed on the engine thread.

use crate::app::ctx::ViewCtx;
use crate::app::style::domain_color;
use crate::app::widgets::domain_legend;
use crate::app::Command;
use crate::families::map::NeuronMap;
use eframe::egui::{self, Color32, Pos2, Rect, RichText, Sense, Vec2};
use std::collections::HashMap;
use std::sync::Arc;

/// Half the side of a point's square, in points.
const POINT: f32 = 2.0;
/// How near (in points) the pointer must be to a point to hover it.
const HOVER: f32 = 6.0;
/// The colour of untagged neurons.
pub const UNTAGGED: Color32 = Color32::from_rgb(110, 110, 110);

/// What the map knows of one SAE.
enum Entry {
    /// Asked of the engine; its last progress (step, fraction).
    Computing(String, f32),
    Ready(Arc<NeuronMap>, [f32; 2], [f32; 2]),
    Failed(String),
}

/// The map's state.
#[derive(Default)]
pub struct MapPanel {
    entries: HashMap<usize, Entry>,
    /// The SAE shown (the browser's SAE filter, else the first loaded, when `None`).
    pub sae: Option<usize>,
    /// Zoom factor and the data point at the centre (`None`: the whole map).
    zoom: f32,
    center: Option<[f32; 2]>,
    /// Per latent of the shown SAE: its colour (recomputed when tags may have changed).
    colours: Option<(usize, Vec<Color32>)>,
    /// The last frame's mapping from data to screen: (SAE, rect centre, data centre, scale).
    last: Option<(usize, Pos2, [f32; 2], f32)>,
}

impl MapPanel {
    /// The map of SAE `sae` arrived.
    pub fn set_map(&mut self, sae: usize, map: Arc<NeuronMap>) {
        let (lo, hi) = map.bounds();
        self.entries.insert(sae, Entry::Ready(map, lo, hi));
        self.colours = None;
        if self.sae == Some(sae) {
            self.reset_view();
        }
    }

    /// How far the computation of SAE `sae`'s map got.
    pub fn set_progress(&mut self, sae: usize, step: String, fraction: f32) {
        self.entries.insert(sae, Entry::Computing(step, fraction));
    }

    /// Computing SAE `sae`'s map failed (or was stopped): `why` is shown, with a retry.
    pub fn set_failed(&mut self, sae: usize, why: String) {
        self.entries.insert(sae, Entry::Failed(why));
    }

    /// Whether a map of `sae` is being computed.
    pub fn computing(&self, sae: usize) -> bool {
        matches!(self.entries.get(&sae), Some(Entry::Computing(..)))
    }

    /// The SAEs whose map is being computed.
    pub fn computing_saes(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .entries
            .iter()
            .filter(|(_, e)| matches!(e, Entry::Computing(..)))
            .map(|(s, _)| *s)
            .collect();
        v.sort();
        v
    }

    /// Tags may have changed: the colours are recomputed on the next frame.
    pub fn invalidate_colours(&mut self) {
        self.colours = None;
    }

    /// Forgets every map (another workspace was opened).
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    fn reset_view(&mut self) {
        self.zoom = 1.0;
        self.center = None;
    }

    /// The SAE the map shows: the chosen one, else `filter` (the browser's SAE filter), else
    /// the first loaded SAE.
    pub fn current(&self, ctx: &ViewCtx, filter: Option<usize>) -> Option<usize> {
        let loaded = |i: usize| ctx.slot(i).is_some_and(|s| s.info.is_some());
        self.sae
            .filter(|&s| loaded(s))
            .or(filter.filter(|&s| loaded(s)))
            .or_else(|| (0..ctx.slots.len()).find(|&i| loaded(i)))
    }

    /// Where latent `latent` of the shown SAE was drawn in the last frame (tests click it).
    pub fn screen_pos(&self, latent: u32) -> Option<Pos2> {
        let (sae, centre, data_centre, scale) = self.last?;
        let Some(Entry::Ready(map, ..)) = self.entries.get(&sae) else {
            return None;
        };
        let p = map.points.get(latent as usize)?;
        Some(to_screen(*p, centre, data_centre, scale))
    }

    /// Draws the map of the SAE [`MapPanel::current`] picks. `highlight` (per latent, when
    /// the browser's filters are narrowing) lights up the matching points; `selected` is the
    /// browser's selected latent of that SAE. Returns [`Command::MapNeurons`] when the map is
    /// wanted and not there, [`Command::OpenNeuron`] on a click.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        ctx: &ViewCtx,
        sae: usize,
        highlight: Option<&[bool]>,
        selected: Option<u32>,
    ) -> Option<Command> {
        let mut command = None;
        ui.horizontal_wrapped(|ui| {
            let l = ui.label("Map of");
            let name = ctx.slot(sae).map_or(String::new(), |s| s.name.clone());
            egui::ComboBox::from_id_salt("map-sae")
                .selected_text(name)
                .show_ui(ui, |ui| {
                    for (i, s) in ctx.slots.iter().enumerate() {
                        if s.info.is_some() && ui.selectable_label(i == sae, &s.name).clicked() {
                            self.sae = Some(i);
                            self.colours = None;
                            self.reset_view();
                        }
                    }
                })
                .response
                .labelled_by(l.id);
            domain_legend(ui);
            ui.label(
                RichText::new(" untagged ")
                    .background_color(UNTAGGED)
                    .color(Color32::WHITE),
            );
        });
        let d_sae = ctx
            .slot(sae)
            .and_then(|s| s.info.as_ref())
            .map_or(0, |i| i.d_sae);
        match self.entries.get(&sae) {
            None => {
                if ctx.ready() && !ctx.busy {
                    command = Some(Command::MapNeurons { sae });
                    self.set_progress(sae, "waiting for the engine".into(), 0.0);
                }
                ui.label(
                    RichText::new("The map is computed once the model is loaded and idle.").weak(),
                );
                return command;
            }
            Some(Entry::Computing(step, f)) => {
                ui.horizontal(|ui| {
                    crate::app::widgets::spinner(ui);
                    ui.label(format!("Computing the map of {d_sae} neurons: {step}"));
                    ui.add(
                        egui::ProgressBar::new(*f)
                            .desired_width(200.0)
                            .show_percentage(),
                    );
                    if ui.button("Stop").clicked() {
                        command = Some(Command::Cancel);
                    }
                });
                return command;
            }
            Some(Entry::Failed(why)) => {
                ui.label(RichText::new(format!("No map: {why}")).color(ui.visuals().warn_fg_color));
                if ui
                    .add_enabled(ctx.ready() && !ctx.busy, egui::Button::new("Compute again"))
                    .clicked()
                {
                    self.set_progress(sae, "waiting for the engine".into(), 0.0);
                    return Some(Command::MapNeurons { sae });
                }
                return None;
            }
            Some(Entry::Ready(..)) => {}
        }
        let Some(Entry::Ready(map, lo, hi)) = self.entries.get(&sae) else {
            return None;
        };
        let (map, lo, hi) = (map.clone(), *lo, *hi);
        if highlight.is_some() {
            let n = highlight.map_or(0, |h| h.iter().filter(|&&b| b).count());
            ui.label(
                RichText::new(format!(
                    "{n} of {} neurons match the filters (lit)",
                    map.points.len()
                ))
                .weak(),
            );
        } else {
            ui.label(
                RichText::new("Scroll to zoom, drag to pan, double-click to see it all; click a point to open its page")
                    .weak(),
            );
        }
        if self
            .colours
            .as_ref()
            .is_none_or(|(s, c)| *s != sae || c.len() != map.points.len())
        {
            let colours = (0..map.points.len() as u32)
                .map(|l| neuron_colour(ctx, sae, l))
                .collect();
            self.colours = Some((sae, colours));
        }
        let size = ui.available_size().max(Vec2::splat(50.0));
        let (rect, response) = ui.allocate_exact_size(size, Sense::click_and_drag());
        let response = response.on_hover_cursor(egui::CursorIcon::Crosshair);
        // The transform: data centre → rect centre, `scale` points per data unit.
        let span = [(hi[0] - lo[0]).max(1e-6), (hi[1] - lo[1]).max(1e-6)];
        let fit = 0.95 * (rect.width() / span[0]).min(rect.height() / span[1]);
        if self.zoom <= 0.0 {
            self.zoom = 1.0;
        }
        let mut centre = self
            .center
            .unwrap_or([(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0]);
        if response.dragged() {
            let d = response.drag_delta() / (fit * self.zoom);
            centre = [centre[0] - d.x, centre[1] - d.y];
            self.center = Some(centre);
        }
        if response.hovered() {
            let (scroll, pinch) = ui.input(|i| (i.smooth_scroll_delta().y, i.zoom_delta()));
            let factor = (scroll / 200.0).exp() * pinch;
            if (factor - 1.0).abs() > 1e-4 {
                if let Some(pointer) = response.hover_pos() {
                    // Keep the data point under the pointer where it is.
                    let before = to_data(pointer, rect.center(), centre, fit * self.zoom);
                    self.zoom = (self.zoom * factor).clamp(0.5, 400.0);
                    let s = fit * self.zoom;
                    centre = [
                        before[0] - (pointer.x - rect.center().x) / s,
                        before[1] - (pointer.y - rect.center().y) / s,
                    ];
                    self.center = Some(centre);
                }
            }
        }
        if response.double_clicked() {
            self.reset_view();
            centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
        }
        let scale = fit * self.zoom;
        self.last = Some((sae, rect.center(), centre, scale));
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 4.0, ui.visuals().extreme_bg_color);
        let colours = &self.colours.as_ref().expect("computed above").1;
        let mut mesh = egui::Mesh::default();
        let half = Vec2::splat(POINT);
        let clip = rect.expand(POINT);
        // Dimmed points first, lit ones on top.
        for lit in [false, true] {
            for (i, p) in map.points.iter().enumerate() {
                let on = highlight.is_none_or(|h| h.get(i).copied().unwrap_or(false));
                if on != lit {
                    continue;
                }
                let s = to_screen(*p, rect.center(), centre, scale);
                if !clip.contains(s) {
                    continue;
                }
                let c = if on {
                    colours[i]
                } else {
                    colours[i].gamma_multiply(0.18)
                };
                mesh.add_colored_rect(Rect::from_center_size(s, half * 2.0), c);
            }
        }
        painter.add(egui::Shape::mesh(mesh));
        let ring = |latent: u32, colour: Color32| {
            if let Some(p) = map.points.get(latent as usize) {
                let s = to_screen(*p, rect.center(), centre, scale);
                painter.circle_stroke(s, POINT + 3.0, egui::Stroke::new(1.5, colour));
            }
        };
        if let Some(l) = selected {
            ring(l, ui.visuals().strong_text_color());
        }
        let hovered = response
            .hover_pos()
            .and_then(|pointer| nearest_point(&map.points, pointer, rect.center(), centre, scale));
        if let Some(l) = hovered {
            ring(l, ui.visuals().selection.stroke.color);
            let layer = ctx.slot(sae).map_or(0, |s| s.layer);
            let rec = ctx.record(sae, l);
            response.clone().on_hover_ui_at_pointer(|ui| {
                ui.strong(format!("{layer}_{l}"));
                let expl = rec
                    .and_then(|r| r.explanation.as_deref())
                    .unwrap_or("no explanation");
                ui.label(expl);
                if let Some(r) = rec.filter(|r| !r.tag_list.is_empty()) {
                    ui.label(RichText::new(r.tags().join(", ")).small());
                }
            });
        }
        if response.clicked() {
            let at = response.interact_pointer_pos();
            if let Some(l) =
                at.and_then(|p| nearest_point(&map.points, p, rect.center(), centre, scale))
            {
                command = Some(Command::OpenNeuron { sae, latent: l });
            }
        }
        command
    }
}

/// A neuron's colour on the map: its safety domain's, else grey.
pub fn neuron_colour(ctx: &ViewCtx, sae: usize, latent: u32) -> Color32 {
    match ctx.record(sae, latent).and_then(|r| r.domain()) {
        Some(d) => domain_color(d),
        None => UNTAGGED,
    }
}

fn to_screen(p: [f32; 2], rect_centre: Pos2, centre: [f32; 2], scale: f32) -> Pos2 {
    Pos2::new(
        rect_centre.x + (p[0] - centre[0]) * scale,
        rect_centre.y + (p[1] - centre[1]) * scale,
    )
}

fn to_data(s: Pos2, rect_centre: Pos2, centre: [f32; 2], scale: f32) -> [f32; 2] {
    [
        centre[0] + (s.x - rect_centre.x) / scale,
        centre[1] + (s.y - rect_centre.y) / scale,
    ]
}

/// The latent drawn nearest `pointer`, within [`HOVER`] points.
fn nearest_point(
    points: &[[f32; 2]],
    pointer: Pos2,
    rect_centre: Pos2,
    centre: [f32; 2],
    scale: f32,
) -> Option<u32> {
    let d = to_data(pointer, rect_centre, centre, scale);
    let r = HOVER / scale;
    let mut best = None;
    let mut best_d2 = r * r;
    for (i, p) in points.iter().enumerate() {
        let (dx, dy) = (p[0] - d[0], p[1] - d[1]);
        let d2 = dx * dx + dy * dy;
        if d2 <= best_d2 {
            best_d2 = d2;
            best = Some(i as u32);
        }
    }
    best
}
