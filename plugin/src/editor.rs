//! The editor: song average (big), current window, history strip, status, model selector,
//! parameters and the weights' licence notices. It only reads [`Snapshot`]s and acts through
//! what a host can do as well: the `reset` parameter, and a state whose model path changes
//! ([`crate::state::SavedCell::request`]). It never touches the model.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;

use egui::{Align, Align2, Color32, CornerRadius, FontId, Layout, Margin, RichText, Sense, Vec2};
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{
    create_egui_editor, EguiEditor, EguiEditorState, EguiNiceSettings, NiceEguiApp,
};

use crate::params::MgrParams;
use crate::state::{HistoryEntry, SavedState, Snapshot, BUILTIN_NAME};
use crate::worker::Shared;

/// Logical editor size.
pub const WIDTH: u32 = 780;
pub const HEIGHT: u32 = 580;

const BG: Color32 = Color32::from_rgb(0x14, 0x16, 0x1c);
const CARD: Color32 = Color32::from_rgb(0x1d, 0x20, 0x29);
const TRACK: Color32 = Color32::from_rgb(0x2a, 0x2e, 0x3a);
const TEXT: Color32 = Color32::from_rgb(0xe8, 0xea, 0xf0);
const DIM: Color32 = Color32::from_rgb(0x8b, 0x91, 0xa1);
const ACCENT: Color32 = Color32::from_rgb(0xff, 0xb3, 0x47);
const ERROR: Color32 = Color32::from_rgb(0xff, 0x6b, 0x6b);

/// One colour per GTZAN genre (other label sets cycle through them).
const PALETTE: [Color32; 10] = [
    Color32::from_rgb(0x4e, 0x79, 0xa7), // blues
    Color32::from_rgb(0xb0, 0x7a, 0xa1), // classical
    Color32::from_rgb(0xe1, 0x9d, 0x4a), // country
    Color32::from_rgb(0xff, 0x5f, 0xa2), // disco
    Color32::from_rgb(0xf2, 0xcf, 0x4a), // hiphop
    Color32::from_rgb(0x59, 0xa1, 0x4f), // jazz
    Color32::from_rgb(0xd6, 0x45, 0x45), // metal
    Color32::from_rgb(0x9c, 0x6a, 0xde), // pop
    Color32::from_rgb(0x3c, 0xc2, 0xa0), // reggae
    Color32::from_rgb(0xff, 0x8c, 0x42), // rock
];

fn colour(i: usize) -> Color32 {
    PALETTE[i % PALETTE.len()]
}

/// Build the editor (called once per plugin instance; the window may open many times).
pub fn create(params: Arc<MgrParams>, shared: Arc<Shared>) -> Option<EguiEditor<App>> {
    let state =
        EguiEditorState::from_size(LogicalSize::new(f64::from(WIDTH), f64::from(HEIGHT)), 1.0);
    let repaint = shared.repaint.clone();
    let app = App {
        params,
        shared,
        gui: None,
        path_input: String::new(),
        show_about: false,
        dialog: None,
        dialog_note: None,
        reset: ResetButton::Idle,
    };
    create_egui_editor(
        state,
        repaint,
        EguiNiceSettings::new().with_tile("mgr"),
        app,
    )
}

/// The editor's state between frames.
pub struct App {
    params: Arc<MgrParams>,
    shared: Arc<Shared>,
    gui: Option<GuiContext>,
    path_input: String,
    show_about: bool,
    /// An open file dialog (on its own thread; `None` = cancelled or no dialog available).
    dialog: Option<Receiver<Option<PathBuf>>>,
    dialog_note: Option<String>,
    reset: ResetButton,
}

/// The *Reset song* button drives the `reset` parameter like a host would: on, and off again
/// once the audio thread has counted the press.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ResetButton {
    Idle,
    /// The parameter was left on (e.g. by automation): switched off, switch on next frame.
    PressNext,
    /// Switched on when the audio thread had counted this many presses.
    Pressed(u64),
}

/// Ask the worker to load `path` (`None`: the built-in model) the way a host state load with
/// that model path does: the new model starts a new song; a file that fails to load leaves the
/// current model and song as they are and shows the error.
pub fn request_model(shared: &Shared, path: Option<String>) {
    let current = shared.saved.get();
    let last_folder = path
        .as_deref()
        .and_then(|p| Path::new(p).parent())
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.to_string_lossy().into_owned())
        .or(current.last_folder);
    shared.saved.request(SavedState {
        model_path: path,
        last_folder,
        labels: current.labels,
        ..SavedState::default()
    });
}

/// Open the system file dialog for a `.safetensors` model on a thread of its own (the host's
/// GUI thread must not block); the answer arrives on the returned channel.
fn open_dialog(folder: Option<PathBuf>) -> Receiver<Option<PathBuf>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("mgr-file-dialog".into())
        .spawn(move || {
            let mut d = rfd::FileDialog::new()
                .set_title("Choose an mgr model")
                .add_filter("safetensors model", &["safetensors"]);
            if let Some(f) = folder.filter(|f| f.is_dir()) {
                d = d.set_directory(f);
            }
            let _ = tx.send(d.pick_file());
        });
    if spawned.is_err() {
        let (tx, rx2) = std::sync::mpsc::channel();
        let _ = tx.send(None);
        return rx2;
    }
    rx
}

impl NiceEguiApp for App {
    fn build(
        &mut self,
        egui_ctx: egui::Context,
        nice_gui_ctx: GuiContext,
        _frame: &mut nice_plug_egui::Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        let mut visuals = egui::Visuals::dark();
        visuals.panel_fill = BG;
        visuals.window_fill = CARD;
        visuals.override_text_color = Some(TEXT);
        visuals.widgets.inactive.bg_fill = TRACK;
        visuals.widgets.inactive.weak_bg_fill = TRACK;
        visuals.selection.bg_fill = ACCENT.gamma_multiply(0.7);
        egui_ctx.set_visuals(visuals);
        if self.path_input.is_empty() {
            if let Some(p) = &self.shared.snapshot.load().model_path {
                self.path_input = p.clone();
            }
        }
        self.gui = Some(nice_gui_ctx);
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut nice_plug_egui::Frame) {
        let snap = self.shared.snapshot.load_full();
        let full = ui.max_rect();
        ui.painter().rect_filled(full, 0.0, BG);
        egui::Frame::new()
            .inner_margin(Margin::same(14))
            .show(ui, |ui| {
                ui.spacing_mut().item_spacing = Vec2::new(10.0, 10.0);
                header(ui, &snap);
                ui.horizontal_top(|ui| {
                    let w = (ui.available_width() - 10.0) / 2.0;
                    song_card(ui, &snap, w);
                    current_card(ui, &snap, w);
                });
                history_card(ui, &snap);
                self.controls(ui, &snap);
                self.footer(ui, &snap);
            });
        // Keep the status line (buffering, timing) fresh while audio flows.
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(250));
    }

    fn editor_closed(&mut self) {
        self.gui = None;
    }
}

/// The loaded model: name, what it says it is, what it was fine-tuned from, its labels, and for
/// a fine-tuned model how it was made and how well it did in its cross-validation.
fn model_lines(ui: &mut egui::Ui, snap: &Snapshot) {
    let m = &snap.model;
    let mut first = m.name.clone();
    if let Some(d) = &m.description {
        first.push_str(" — ");
        first.push_str(d);
    }
    ui.label(RichText::new(first).size(11.0).color(TEXT));
    let base = m.base_model.as_deref().unwrap_or("—");
    let labels = if snap.labels.is_empty() {
        "labels: (loads with the first audio)".to_string()
    } else {
        format!("{} labels: {}", snap.labels.len(), snap.labels.join(", "))
    };
    ui.label(
        RichText::new(format!("base model: {base} · {labels}"))
            .size(11.0)
            .color(DIM),
    );
    if let Some(p) = &m.provenance {
        ui.label(RichText::new(format!("made: {p}")).size(11.0).color(DIM));
    }
}

fn card(ui: &mut egui::Ui, width: f32, height: f32, add: impl FnOnce(&mut egui::Ui)) {
    egui::Frame::new()
        .fill(CARD)
        .corner_radius(CornerRadius::same(10))
        .inner_margin(Margin::same(12))
        .show(ui, |ui| {
            ui.set_width(width - 24.0);
            ui.set_height(height);
            ui.vertical(|ui| {
                ui.spacing_mut().item_spacing = Vec2::new(8.0, 6.0);
                add(ui);
            });
        });
}

fn caption(ui: &mut egui::Ui, text: &str) {
    ui.label(RichText::new(text).size(11.0).color(DIM).strong());
}

fn header(ui: &mut egui::Ui, snap: &Snapshot) {
    ui.horizontal(|ui| {
        ui.label(RichText::new("mgr").size(22.0).strong().color(ACCENT));
        ui.label(
            RichText::new("music genre recognition")
                .size(14.0)
                .color(DIM),
        );
        ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
            let (text, col) = status(snap);
            let galley = ui.painter().layout_no_wrap(
                text.clone(),
                FontId::proportional(12.0),
                Color32::BLACK,
            );
            let size = galley.size() + Vec2::new(20.0, 8.0);
            let (rect, _) = ui.allocate_exact_size(size, Sense::hover());
            ui.painter().rect_filled(rect, 12.0, col);
            ui.painter()
                .galley(rect.center() - galley.size() / 2.0, galley, Color32::BLACK);
        });
    });
}

fn status(snap: &Snapshot) -> (String, Color32) {
    if let Some(e) = &snap.stream_error {
        return (format!("audio: {e}"), ERROR);
    }
    if snap.heard_s <= 0.0 {
        return ("waiting for audio".into(), DIM);
    }
    if snap.current.is_none() && snap.buffered < 1.0 {
        return (
            format!("listening · {:.0} %", snap.buffered * 100.0),
            Color32::from_rgb(0x8e, 0xc5, 0xff),
        );
    }
    ("live".into(), Color32::from_rgb(0x6b, 0xd4, 0x8f))
}

fn label(snap: &Snapshot, i: usize) -> String {
    snap.labels
        .get(i)
        .cloned()
        .unwrap_or_else(|| format!("#{i}"))
}

/// Share of the top score among all scores, as the authors' demo shows confidence.
fn share(scores: &[f32], i: usize) -> f32 {
    let sum: f32 = scores.iter().sum();
    if sum > 0.0 {
        scores[i] / sum
    } else {
        0.0
    }
}

fn mmss(s: f64) -> String {
    let s = s.max(0.0) as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

fn song_card(ui: &mut egui::Ui, snap: &Snapshot, w: f32) {
    card(ui, w, 214.0, |ui| {
        caption(ui, "SONG AVERAGE");
        match snap.song.as_ref().and_then(|s| s.top().map(|t| (s, t))) {
            Some((song, (top, _))) => {
                ui.label(
                    RichText::new(label(snap, top).to_uppercase())
                        .size(40.0)
                        .strong()
                        .color(colour(top)),
                );
                ui.label(
                    RichText::new(format!(
                        "{:.0} % confidence · {} frame{} · {} heard",
                        share(&song.mean, top) * 100.0,
                        song.frames,
                        if song.frames == 1 { "" } else { "s" },
                        mmss(snap.heard_s)
                    ))
                    .size(12.0)
                    .color(DIM),
                );
                bars(ui, snap, &song.mean, 5);
            }
            None => {
                ui.add_space(18.0);
                ui.label(RichText::new("—").size(40.0).color(DIM));
                let msg = if snap.heard_s > 0.0 {
                    format!(
                        "listening… first result after 29.12 s ({} heard)",
                        mmss(snap.heard_s)
                    )
                } else {
                    "press play: the song's genre builds up here".into()
                };
                ui.label(RichText::new(msg).size(12.0).color(DIM));
                progress(ui, snap.buffered);
            }
        }
    });
}

fn current_card(ui: &mut egui::Ui, snap: &Snapshot, w: f32) {
    card(ui, w, 214.0, |ui| {
        caption(ui, "NOW · LAST 29.12 s");
        match &snap.current {
            Some(cur) => {
                if let Some(top) = mgr_core::model::argmax(&cur.scores) {
                    ui.horizontal(|ui| {
                        ui.label(
                            RichText::new(label(snap, top))
                                .size(24.0)
                                .strong()
                                .color(colour(top)),
                        );
                        let note = if cur.silent {
                            format!("silent ({:.0} dB), not voting", cur.rms_db)
                        } else {
                            format!("{:.0} %", share(&cur.scores, top) * 100.0)
                        };
                        ui.label(RichText::new(note).size(12.0).color(DIM));
                    });
                }
                bars(ui, snap, &cur.scores, 10);
            }
            None => {
                ui.add_space(6.0);
                ui.label(
                    RichText::new("filling the first 29.12 s window")
                        .size(13.0)
                        .color(DIM),
                );
                progress(ui, snap.buffered);
            }
        }
    });
}

fn progress(ui: &mut egui::Ui, f: f32) {
    let (rect, _) = ui.allocate_exact_size(Vec2::new(ui.available_width(), 8.0), Sense::hover());
    ui.painter().rect_filled(rect, 4.0, TRACK);
    let mut fill = rect;
    fill.set_width(rect.width() * f.clamp(0.0, 1.0));
    ui.painter().rect_filled(fill, 4.0, ACCENT);
}

/// Horizontal bars, highest first, `max` rows.
fn bars(ui: &mut egui::Ui, snap: &Snapshot, scores: &[f32], max: usize) {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let top = scores.iter().copied().fold(0f32, f32::max).max(1e-6);
    let row_h = if max <= 5 { 22.0 } else { 15.0 };
    let width = ui.available_width();
    ui.spacing_mut().item_spacing.y = 2.0;
    for &i in order.iter().take(max) {
        let (rect, _) = ui.allocate_exact_size(Vec2::new(width, row_h), Sense::hover());
        let p = ui.painter();
        let name_w = 74.0;
        p.text(
            rect.left_center(),
            Align2::LEFT_CENTER,
            label(snap, i),
            FontId::proportional(if max <= 5 { 13.0 } else { 11.0 }),
            TEXT,
        );
        let mut track = rect;
        track.min.x += name_w;
        track.max.x -= 44.0;
        track = track.shrink2(Vec2::new(0.0, row_h * 0.22));
        p.rect_filled(track, 3.0, TRACK);
        let mut bar = track;
        bar.set_width(track.width() * (scores[i] / top).clamp(0.0, 1.0));
        p.rect_filled(bar, 3.0, colour(i));
        p.text(
            rect.right_center(),
            Align2::RIGHT_CENTER,
            format!("{:.0} %", share(scores, i) * 100.0),
            FontId::monospace(11.0),
            DIM,
        );
    }
}

fn history_card(ui: &mut egui::Ui, snap: &Snapshot) {
    let w = ui.available_width();
    card(ui, w, 62.0, |ui| {
        let span = snap.history.last().map(|e| mmss(f64::from(e.end_s)));
        caption(
            ui,
            &format!(
                "HISTORY · TOP GENRE PER WINDOW{}",
                span.map(|s| format!(" · 0:29 – {s}")).unwrap_or_default()
            ),
        );
        let (rect, _) =
            ui.allocate_exact_size(Vec2::new(ui.available_width(), 22.0), Sense::hover());
        let p = ui.painter();
        p.rect_filled(rect, 4.0, TRACK);
        let h: &[HistoryEntry] = &snap.history;
        if h.is_empty() {
            p.text(
                rect.center(),
                Align2::CENTER_CENTER,
                "one cell per window, as the song plays",
                FontId::proportional(11.0),
                DIM,
            );
        } else {
            let cell = (rect.width() / h.len() as f32).min(18.0);
            for (k, e) in h.iter().enumerate() {
                let x = rect.left() + k as f32 * cell;
                let r = egui::Rect::from_min_size(
                    egui::pos2(x, rect.top()),
                    Vec2::new((cell - 1.0).max(1.0), rect.height()),
                );
                let c = e.top.map(|t| colour(t as usize)).unwrap_or(TRACK);
                p.rect_filled(r, 2.0, c);
            }
        }
        ui.horizontal_wrapped(|ui| {
            ui.spacing_mut().item_spacing.x = 4.0;
            for (i, name) in snap.labels.iter().enumerate() {
                let (r, _) = ui.allocate_exact_size(Vec2::splat(9.0), Sense::hover());
                ui.painter().rect_filled(r, 2.0, colour(i));
                ui.label(RichText::new(name).size(10.5).color(DIM));
                ui.add_space(4.0);
            }
        });
    });
}

impl App {
    fn controls(&mut self, ui: &mut egui::Ui, snap: &Snapshot) {
        self.poll_dialog();
        self.drive_reset();
        let w = ui.available_width();
        card(ui, w, 104.0, |ui| {
            ui.horizontal(|ui| {
                ui.label(RichText::new("Model").color(DIM));
                let builtin = snap.model_path.is_none();
                if ui
                    .selectable_label(builtin, BUILTIN_NAME)
                    .on_hover_text("Jiménez & Marqués' CRNN, 10 GTZAN genres")
                    .clicked()
                    && !builtin
                {
                    request_model(&self.shared, None);
                }
                let choose = ui
                    .add_enabled(self.dialog.is_none(), egui::Button::new("Choose file…"))
                    .on_hover_text("Open a .safetensors model (e.g. from mgr-cli finetune)");
                if choose.clicked() {
                    let folder = self
                        .shared
                        .saved
                        .get()
                        .last_folder
                        .map(PathBuf::from)
                        .or_else(|| {
                            snap.model_path
                                .as_deref()
                                .and_then(|p| Path::new(p).parent().map(Path::to_path_buf))
                        });
                    self.dialog = Some(open_dialog(folder));
                    self.dialog_note = None;
                }
                ui.add(
                    egui::TextEdit::singleline(&mut self.path_input)
                        .hint_text("or type a path/to/model.safetensors")
                        .desired_width(230.0),
                );
                if ui.button("Load").clicked() && !self.path_input.trim().is_empty() {
                    request_model(&self.shared, Some(self.path_input.trim().to_string()));
                }
                ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                    let pending = self.reset != ResetButton::Idle;
                    if ui
                        .add_enabled(
                            !pending,
                            egui::Button::new(RichText::new("Reset song").color(ACCENT)),
                        )
                        .on_hover_text("Start a new song now (parameter \"Reset song\")")
                        .clicked()
                    {
                        self.press_reset();
                    }
                });
            });
            model_lines(ui, snap);
            if let Some(e) = snap.model_error.as_ref().or(self.dialog_note.as_ref()) {
                ui.label(RichText::new(e).size(11.0).color(ERROR));
            }
            if let Some(gui) = &self.gui {
                let setter = gui.param_setter();
                ui.horizontal(|ui| {
                    ui.label(RichText::new("Update every").color(DIM));
                    ui.add(ParamSlider::for_param(&self.params.hop, &setter).with_width(90.0));
                    ui.label(RichText::new("Silence gate").color(DIM));
                    ui.add(ParamSlider::for_param(&self.params.gate, &setter).with_width(90.0));
                    ui.label(RichText::new("New song on restart").color(DIM));
                    ui.add(
                        ParamSlider::for_param(&self.params.reset_on_restart, &setter)
                            .with_width(50.0),
                    );
                });
            }
        });
    }

    /// A file picked in the dialog loads at once (and fills the text field).
    fn poll_dialog(&mut self) {
        let Some(rx) = &self.dialog else {
            return;
        };
        match rx.try_recv() {
            Ok(Some(path)) => {
                let p = path.to_string_lossy().into_owned();
                self.path_input = p.clone();
                request_model(&self.shared, Some(p));
                self.dialog = None;
            }
            Ok(None) | Err(TryRecvError::Disconnected) => {
                self.dialog_note = Some(
                    "no file chosen (where no file dialog is available, type the path and press Load)"
                        .into(),
                );
                self.dialog = None;
            }
            Err(TryRecvError::Empty) => {}
        }
    }

    fn set_reset(&self, on: bool) {
        if let Some(gui) = &self.gui {
            let setter = gui.param_setter();
            setter.begin_set_parameter(&self.params.reset);
            setter.set_parameter(&self.params.reset, on);
            setter.end_set_parameter(&self.params.reset);
        }
    }

    fn press_reset(&mut self) {
        if self.params.reset.value() {
            self.set_reset(false);
            self.reset = ResetButton::PressNext;
        } else {
            let count = self.shared.signals.resets.load(Ordering::Acquire);
            self.set_reset(true);
            self.reset = ResetButton::Pressed(count);
        }
    }

    fn drive_reset(&mut self) {
        match self.reset {
            ResetButton::Idle => {}
            ResetButton::PressNext => self.press_reset(),
            ResetButton::Pressed(before) => {
                if self.shared.signals.resets.load(Ordering::Acquire) > before {
                    self.set_reset(false);
                    self.reset = ResetButton::Idle;
                }
            }
        }
    }

    fn footer(&mut self, ui: &mut egui::Ui, snap: &Snapshot) {
        ui.horizontal(|ui| {
            let timing = snap
                .last_inference_ms
                .map(|ms| format!("last analysis {ms:.0} ms"))
                .unwrap_or_else(|| "model loads on first audio".into());
            let rate = if snap.rate > 0 {
                format!(
                    "{:.1} kHz in, analysed at 12 kHz",
                    snap.rate as f32 / 1000.0
                )
            } else {
                "no audio yet".into()
            };
            let mut line = format!("{timing} · {rate}");
            if snap.stream.faster_than_realtime {
                line.push_str(" · render (faster than real time)");
            }
            if snap.dropped > 0 {
                line.push_str(&format!(" · {} samples dropped", snap.dropped));
            }
            ui.label(RichText::new(line).size(11.0).color(DIM));
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                let about = ui.add(
                    egui::Label::new(
                        RichText::new("Weights © K. Choi, A. Jiménez (MIT) · About")
                            .size(11.0)
                            .color(DIM),
                    )
                    .sense(Sense::click()),
                );
                if about.clicked() {
                    self.show_about = !self.show_about;
                }
            });
        });
        if self.show_about {
            egui::Window::new("About mgr")
                .collapsible(false)
                .resizable(false)
                .default_width(520.0)
                .anchor(Align2::CENTER_CENTER, Vec2::ZERO)
                .open(&mut self.show_about)
                .show(ui.ctx(), |ui| {
                    ui.label("mgr reproduces Jiménez & Marqués, Music genre recognition with deep neural networks, on K. Choi's CRNN.");
                    let m = &snap.model;
                    ui.label(format!("Active model: {}", m.name));
                    if let Some(d) = &m.description {
                        ui.label(RichText::new(d).size(11.0).color(DIM));
                    }
                    ui.label(
                        RichText::new(match &m.provenance {
                            Some(p) => format!("Made by mgr-cli finetune: {p}"),
                            None if m.name == BUILTIN_NAME => {
                                "The published GTZAN CRNN (Jiménez & Marqués), as released.".into()
                            }
                            None => "No training record in this file.".into(),
                        })
                        .size(11.0)
                        .color(DIM),
                    );
                    ui.separator();
                    ui.label("Licence notices of the embedded weights:");
                    egui::ScrollArea::vertical().max_height(300.0).show(ui, |ui| {
                        ui.label(
                            RichText::new(mgr_core::model::builtin::LICENSE_JIMENEZ)
                                .monospace()
                                .size(10.0),
                        );
                        ui.separator();
                        ui.label(
                            RichText::new(mgr_core::model::builtin::LICENSE_CHOI)
                                .monospace()
                                .size(10.0),
                        );
                    });
                });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{SavedCell, SongResult};
    use crate::worker::AudioSignals;
    use arc_swap::ArcSwap;
    use nice_plug_egui::RepaintNotifier;

    /// The selector's request is a host state load with the new model path: the song starts
    /// again, the labels stay for the compatibility check, the folder is remembered.
    #[test]
    fn model_request_is_a_state_load_that_remembers_the_folder() {
        let shared = Shared {
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            saved: Arc::new(SavedCell::default()),
            signals: AudioSignals::default(),
            repaint: RepaintNotifier::new(),
        };
        shared.saved.store(SavedState {
            last_folder: Some("/old".into()),
            labels: vec!["a".into()],
            song: Some(SongResult {
                mean: vec![1.0],
                frames: 1,
            }),
            heard_samples: 99,
            ..SavedState::default()
        });
        request_model(&shared, Some("/models/ft/house.safetensors".into()));
        let r = shared.saved.take_restored().expect("a load");
        assert_eq!(
            r.model_path.as_deref(),
            Some("/models/ft/house.safetensors")
        );
        assert_eq!(r.last_folder.as_deref(), Some("/models/ft"));
        assert_eq!(r.labels, ["a"]);
        assert!(r.song.is_none() && r.history.is_empty() && r.heard_samples == 0);
        // Back to the built-in model: the folder stays for the next dialog.
        request_model(&shared, None);
        let r = shared.saved.take_restored().expect("a load");
        assert_eq!(r.model_path, None);
        assert_eq!(r.last_folder.as_deref(), Some("/models/ft"));
        // A bare file name has no folder to remember.
        request_model(&shared, Some("house.safetensors".into()));
        let r = shared.saved.take_restored().expect("a load");
        assert_eq!(r.last_folder.as_deref(), Some("/models/ft"));
    }
}
