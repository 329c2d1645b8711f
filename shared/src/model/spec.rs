//! Which model: the networks built into the library ([`Builtin`]), a model as a user names it
//! ([`ModelSpec`]: a built-in name or a safetensors file), and its bytes with an identity
//! ([`ModelFile`]). The CLI, training, evaluation and the plugin all resolve a model here.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use candle_core::Device;

use super::Model;
use crate::error::Result;
use crate::fsio;
use crate::hash::fnv1a;

/// The networks compiled into the library (MIT licensed; notices in `weights/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Builtin {
    /// Jiménez & Marqués' CRNN fine-tuned to the 10 GTZAN genres: the default genre model.
    Gtzan,
    /// Choi's CRNN music tagger, 50 Million Song Dataset tags.
    Crnn,
    /// Choi's FCN music tagger, 50 Million Song Dataset tags.
    Fcn,
}

crate::names::kebab_names!(Builtin);

/// MIT notice of the Choi weights (`crnn`, `fcn`).
pub const LICENSE_CHOI: &str = include_str!("../../../weights/LICENSE-music-auto_tagging-keras.md");
/// MIT notice of the Jiménez weights (`gtzan`).
pub const LICENSE_JIMENEZ: &str =
    include_str!("../../../weights/LICENSE-Music-Genre-Classification-with-Deep-Learning.txt");

impl Builtin {
    /// Every built-in model, the default first.
    pub const ALL: [Builtin; 3] = [Builtin::Gtzan, Builtin::Crnn, Builtin::Fcn];

    /// The name users type (`gtzan`, `crnn`, `fcn`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Gtzan => "gtzan",
            Self::Crnn => "crnn",
            Self::Fcn => "fcn",
        }
    }

    /// The built-in model of that name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The first word of the file's `model` metadata (`jimenez_crnn_gtzan`): how a trained
    /// file names it as its base (`base_model`).
    pub fn model_name(self) -> &'static str {
        match self {
            Self::Gtzan => "jimenez_crnn_gtzan",
            Self::Crnn => "choi_crnn_msd",
            Self::Fcn => "choi_fcn_msd",
        }
    }

    /// The safetensors bytes, compiled into the binary.
    pub fn bytes(self) -> &'static [u8] {
        match self {
            Self::Gtzan => include_bytes!("../../../weights/jimenez_crnn_gtzan.safetensors"),
            Self::Crnn => include_bytes!("../../../weights/choi_crnn_msd.safetensors"),
            Self::Fcn => include_bytes!("../../../weights/choi_fcn_msd.safetensors"),
        }
    }

    /// Load it onto `device`.
    pub fn load(self, device: &Device) -> Result<Model> {
        ModelSpec::Builtin(self).load(device)
    }

    /// `gtzan|crnn|fcn`, for messages.
    pub fn names() -> String {
        Self::ALL.map(Self::name).join("|")
    }
}

/// A model as a user names it: a built-in name, else a path to a safetensors file (e.g. one
/// `finetune` wrote). `"gtzan"` is [`Builtin::Gtzan`]; a file that happens to be called
/// `gtzan` is `./gtzan`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ModelSpec {
    /// One of the networks compiled into the library.
    Builtin(Builtin),
    /// A safetensors file in the published layout.
    File(PathBuf),
}

impl Default for ModelSpec {
    /// The published GTZAN CRNN.
    fn default() -> Self {
        Self::Builtin(Builtin::Gtzan)
    }
}

impl From<&str> for ModelSpec {
    fn from(s: &str) -> Self {
        match Builtin::from_name(s) {
            Some(b) => Self::Builtin(b),
            None => Self::File(PathBuf::from(s)),
        }
    }
}

impl From<Builtin> for ModelSpec {
    fn from(b: Builtin) -> Self {
        Self::Builtin(b)
    }
}

impl std::str::FromStr for ModelSpec {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(Self::from(s))
    }
}

impl std::fmt::Display for ModelSpec {
    /// The name or the path, as the user gave it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Builtin(b) => f.write_str(b.name()),
            Self::File(p) => write!(f, "{}", p.display()),
        }
    }
}

impl ModelSpec {
    /// The built-in model, if this names one.
    pub fn builtin(&self) -> Option<Builtin> {
        match self {
            Self::Builtin(b) => Some(*b),
            Self::File(_) => None,
        }
    }

    /// Whether this is the published GTZAN CRNN.
    pub fn is_published_gtzan(&self) -> bool {
        self.builtin() == Some(Builtin::Gtzan)
    }

    /// The model's bytes: borrowed for a built-in model, read for a file.
    pub fn open(&self) -> Result<ModelFile> {
        let bytes: Cow<'static, [u8]> = match self {
            Self::Builtin(b) => Cow::Borrowed(b.bytes()),
            Self::File(path) => Cow::Owned(read(path)?),
        };
        let id = format!("{self}#{:016x}", fnv1a(0, bytes.iter().copied()));
        Ok(ModelFile {
            spec: self.clone(),
            bytes,
            id,
        })
    }

    /// Read and load the model onto `device`.
    pub fn load(&self, device: &Device) -> Result<Model> {
        self.open()?.load(device)
    }
}

/// Largest model file read, in bytes. The built-in files take 1.6 MB (CRNN) and 3.5 MB
/// (FCN); the largest file the load checks can accept — the FCN with
/// [`meta::MAX_LABELS`](super::meta::MAX_LABELS) outputs and a stacked head of as many labels
/// on its 2,016 features — about 14 MB. 64 MiB refuses nothing real and bounds what a wrong
/// path (a disk image, a video) can cost a DAW before it is refused.
pub const MAX_MODEL_BYTES: u64 = 64 << 20;

/// A model file's bytes: a regular file of at most [`MAX_MODEL_BYTES`] (a device, FIFO or
/// folder is refused before it is opened for reading, a larger file before it is read).
fn read(path: &Path) -> Result<Vec<u8>> {
    Ok(fsio::read_capped(path, MAX_MODEL_BYTES)?)
}

/// A model's safetensors bytes, the spec they came from, and an identity that changes
/// whenever the bytes do (`spec#<FNV-1a of the bytes>`: cached activations are never stale).
#[derive(Debug, Clone)]
pub struct ModelFile {
    /// What the user named.
    pub spec: ModelSpec,
    /// The safetensors file.
    pub bytes: Cow<'static, [u8]>,
    /// `spec#<FNV-1a of the bytes>`.
    pub id: String,
}

impl ModelFile {
    /// Parse and validate the file and put its weights on `device`.
    pub fn load(&self, device: &Device) -> Result<Model> {
        Model::from_bytes(&self.bytes, &self.spec.to_string(), device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_builtins_and_anything_else_to_a_file() {
        for b in Builtin::ALL {
            assert_eq!(ModelSpec::from(b.name()), ModelSpec::Builtin(b));
            assert_eq!(b.name().parse::<Builtin>(), Ok(b));
            assert_eq!(ModelSpec::from(b.name()).to_string(), b.name());
        }
        assert_eq!(ModelSpec::default(), ModelSpec::Builtin(Builtin::Gtzan));
        let f = ModelSpec::from("my-genres.safetensors");
        assert_eq!(f, ModelSpec::File("my-genres.safetensors".into()));
        assert_eq!(f.to_string(), "my-genres.safetensors");
        assert_eq!(Builtin::names(), "gtzan|crnn|fcn");
    }

    #[test]
    fn files_are_identified_by_their_bytes() {
        let a = ModelSpec::from("gtzan").open().unwrap();
        let b = ModelSpec::from("crnn").open().unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(a.id, ModelSpec::default().open().unwrap().id);
        assert!(a.id.starts_with("gtzan#"));
        let e = ModelSpec::from("no/such/model.safetensors")
            .open()
            .unwrap_err();
        assert!(matches!(e, crate::Error::Io(_)), "{e}");
        assert!(e.to_string().contains("no/such/model.safetensors"), "{e}");
    }

    /// A link to `/dev/zero`, a FIFO and a file over the cap are refused before they are
    /// read: at once, whatever they would hold.
    #[cfg(target_os = "linux")]
    #[test]
    fn only_regular_files_within_the_cap_are_read() {
        let dir = std::env::temp_dir().join(format!("mgr-spec-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let zero = dir.join("zero.safetensors");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let fifo = dir.join("fifo.safetensors");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let big = dir.join("big.safetensors");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_MODEL_BYTES + 1).unwrap(); // sparse: nothing is written
        let t = std::time::Instant::now();
        for (path, want) in [
            (&zero, "it is a device, not a regular file"),
            (&fifo, "it is a named pipe (FIFO), not a regular file"),
            (&big, "it is larger than 67108864 bytes (67108865 bytes)"),
            (&dir, "it is a folder, not a regular file"),
        ] {
            let e = ModelSpec::File(path.clone())
                .open()
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(want) && e.contains(&*path.to_string_lossy()),
                "{e}"
            );
        }
        assert!(t.elapsed().as_secs() < 2, "{:?}", t.elapsed());
        let _ = std::fs::remove_dir_all(dir);
    }
}
