//! Model files load on short-lived threads of their own, never on the worker: a file on a
//! network disk that stopped answering blocks only its loader thread (a `stat` or `read` on a
//! hung mount cannot be interrupted), while the worker goes on analysing with the model it
//! has and the editor shows the load as slow after [`LOAD_SLOW`].
//!
//! Every load gets a generation number; only the result of the newest one is taken, so a
//! newer choice (another file, the built-in model, the same file again from a later state)
//! supersedes an older load whatever the order the threads finish in. A superseded thread
//! ends by itself when its file answers, and its model is dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use mgr_core::model::{device, DeviceKind, Model, ModelSpec};

use crate::state::SavedState;

/// A load not finished after this long is shown as slow in the editor ("still loading"):
/// a model from a local disk loads in well under a second (about 60 ms here).
pub const LOAD_SLOW: Duration = Duration::from_secs(3);

/// Loader threads in this process that have not finished, beyond which a new file load is
/// refused: each waits on a file that does not answer, and each new choice would add one.
pub const MAX_LOADERS: usize = 8;

/// How a model file becomes a model: [`load_model`], or a stand-in in tests.
pub type LoadFn = Arc<dyn Fn(Option<&str>) -> Result<Arc<Model>, String> + Send + Sync>;

/// The result of the newest load.
pub struct Loaded {
    pub path: String,
    pub result: Result<Arc<Model>, String>,
    /// The state that asked for the model: its song applies once the model is in.
    pub state: SavedState,
}

/// The newest load (its generation is the loader's).
struct Pending {
    path: String,
    state: SavedState,
    since: Instant,
}

type Outcome = (u64, Result<Arc<Model>, String>);

/// One instance's model loads.
pub struct Loader {
    load: LoadFn,
    tx: Sender<Outcome>,
    rx: Receiver<Outcome>,
    generation: u64,
    pending: Option<Pending>,
}

static LOADERS: AtomicUsize = AtomicUsize::new(0);

/// Counts a loader thread while it lives.
struct Running;

impl Running {
    fn start() -> Option<Self> {
        let n = LOADERS.fetch_add(1, Ordering::AcqRel);
        if n >= MAX_LOADERS {
            LOADERS.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Self)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        LOADERS.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Loader {
    pub fn new(load: LoadFn) -> Self {
        let (tx, rx) = channel();
        Self {
            load,
            tx,
            rx,
            generation: 0,
            pending: None,
        }
    }

    /// Start loading `path` for `state`. A load of another file in progress is superseded; a
    /// load of the same file goes on, for the newer state.
    pub fn start(&mut self, path: String, state: SavedState) -> Result<(), String> {
        if let Some(p) = self.pending.as_mut().filter(|p| p.path == path) {
            p.state = state;
            return Ok(());
        }
        self.cancel();
        let running = Running::start().ok_or_else(|| {
            format!(
                "{MAX_LOADERS} model loads are still waiting for their files (a disk that does \
                 not answer?): {path} not loaded"
            )
        })?;
        let (load, tx, generation) = (self.load.clone(), self.tx.clone(), self.generation);
        let file = path.clone();
        std::thread::Builder::new()
            .name("mgr-model-load".into())
            .spawn(move || {
                let _running = running;
                let result = load(Some(&file));
                // The worker may be gone or have moved on: then nobody wants this model.
                let _ = tx.send((generation, result));
            })
            .map_err(|e| format!("cannot start loading {path}: {e}"))?;
        self.pending = Some(Pending {
            path,
            state,
            since: Instant::now(),
        });
        Ok(())
    }

    /// Forget the load in progress (a newer choice needs no file): its result will be dropped.
    pub fn cancel(&mut self) {
        self.generation += 1;
        self.pending = None;
    }

    /// The file loading now, and since when.
    pub fn pending(&self) -> Option<(&str, Instant)> {
        self.pending.as_ref().map(|p| (p.path.as_str(), p.since))
    }

    /// The newest load's result, once it is there (older loads' results are dropped).
    pub fn poll(&mut self) -> Option<Loaded> {
        while let Ok((generation, result)) = self.rx.try_recv() {
            if generation != self.generation {
                continue;
            }
            let p = self.pending.take()?;
            self.generation += 1;
            return Some(Loaded {
                path: p.path,
                result,
                state: p.state,
            });
        }
        None
    }
}

/// Which model file, and which version of it (a file rewritten by a new fine-tune is another
/// model).
type ModelKey = (Option<String>, Option<(u64, Option<SystemTime>)>);

/// Load a model, or share the one another instance in this process already loaded from the
/// same file: the weights and their Winograd form are read-only during inference and take
/// about 9 MB, which eight instances on a mix need only once. The cache is not locked while a
/// file is read, so that a file that does not answer holds up no other load.
pub fn load_model(path: Option<&str>) -> Result<Arc<Model>, String> {
    static LOADED: Mutex<Vec<(ModelKey, Weak<Model>)>> = Mutex::new(Vec::new());
    let version = path
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| (m.len(), m.modified().ok()));
    let key: ModelKey = (path.map(str::to_string), version);
    let cached = |key: &ModelKey| {
        let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
        loaded.retain(|(_, m)| m.strong_count() > 0);
        loaded
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, m)| m.upgrade())
    };
    if let Some(m) = cached(&key) {
        return Ok(m);
    }
    let dev = device(DeviceKind::Cpu).map_err(|e| e.to_string())?;
    // A path is always a file, even one called `gtzan`; no path is the built-in default.
    let spec = path.map_or_else(ModelSpec::default, |p| ModelSpec::File(p.into()));
    let model = Arc::new(spec.load(&dev).map_err(|e| e.to_string())?);
    // Another instance may have loaded the same file meanwhile: share the first.
    if let Some(m) = cached(&key) {
        return Ok(m);
    }
    let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    loaded.push((key, Arc::downgrade(&model)));
    Ok(model)
}
