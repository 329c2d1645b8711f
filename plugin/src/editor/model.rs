//! The model panel: the built-in model or a file (system dialog or a typed path), and what
//! the loaded model says about itself. A choice becomes a state load with that model path
//! ([`request_model`]), the way a host loading a project would do it.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, TryRecvError};

use egui::RichText;

use super::theme::{DIM, TEXT};
use super::App;
use crate::state::{SavedState, Snapshot, BUILTIN_NAME};
use crate::worker::Shared;

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

impl App {
    /// The model row: built-in, *Choose file…*, a path field and *Load*.
    pub(super) fn model_picker(&mut self, ui: &mut egui::Ui, snap: &Snapshot) {
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
    }

    /// A file picked in the dialog loads at once (and fills the text field).
    pub(super) fn poll_dialog(&mut self) {
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
}

/// The loaded model: name, what it says it is, what it was fine-tuned from, its labels, and for
/// a fine-tuned model how it was made and how well it did in its cross-validation.
pub(super) fn model_lines(ui: &mut egui::Ui, snap: &Snapshot) {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arc_swap::ArcSwap;
    use nice_plug_egui::RepaintNotifier;

    use super::*;
    use crate::state::{SavedCell, SongResult};
    use crate::worker::AudioSignals;

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
