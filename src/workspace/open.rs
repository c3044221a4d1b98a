//! Opening a workspace: first its files (neuron databases, editing sessions, feature stores,
//! evaluation rows; quick), then its model and SAEs (slow). Problems that leave the workspace
//! usable become notes, not errors.

use super::{Sessions, Workspace};
use crate::capture::check_sae_fits;
use crate::db::autosave::EditSession;
use crate::db::editable::DbKind;
use crate::db::NeuronDb;
use crate::device::{parse_device, parse_dtype};
use crate::eval::report::{EvaluationReport, EvaluationRow};
use crate::inspect::{LoadedModel, SaeInfo};
use crate::model::Model;
use crate::sae::load_sae;
use crate::store::Store;
use anyhow::{bail, Result};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a workspace's files say about one of its SAEs.
pub struct OpenedSae {
    pub name: String,
    /// Its hook's layer, from the SAE spec (0 when the spec names none).
    pub layer: usize,
    /// The neuron database that describes its latents (empty when none).
    pub db: NeuronDb,
    /// The file that database comes from (its own, else the workspace's).
    pub db_path: Option<PathBuf>,
    /// Per latent: the activation that counts as 1.0 (its 0.999 quantile from the feature
    /// store, else from the Safe-SAIL quantile file). Empty when neither exists.
    pub q999: HashMap<u32, f32>,
    /// The Safe-SAIL quantile file `q999` comes from (when there is no store).
    pub quantiles_from: Option<PathBuf>,
    /// The latents of the SAE's Safe-SAIL indices file, when it names one: the neurons the
    /// safety overview considers.
    pub selected: Option<Arc<HashSet<u32>>>,
    /// Its feature store, when the workspace names one that opens.
    pub store: Option<Arc<Store>>,
    /// Its row of its `evaluation.json` (from `safe-sail evaluate`), when present.
    pub eval: Option<EvaluationRow>,
}

/// A workspace with its files read.
pub struct OpenedWorkspace {
    pub workspace: Workspace,
    /// One per SAE of the workspace, in order.
    pub saes: Vec<OpenedSae>,
    /// Editing sessions of its editable neuron databases.
    pub sessions: Sessions,
    /// What could not be read, for the user.
    pub notes: Vec<String>,
}

impl OpenedWorkspace {
    /// Reads the workspace file at `path` and what it names: one neuron database per SAE
    /// (its own, else the workspace's), an editing session per editable database file
    /// (`wake` is called when one of them has saved), each SAE's feature store and its row
    /// of the evaluation results. Only an unreadable workspace file is an error.
    pub fn open(path: &Path, wake: impl Fn() + Send + Sync + 'static) -> Result<Self> {
        let wake: Arc<dyn Fn() + Send + Sync> = Arc::new(wake);
        let ws = Workspace::load(path)?;
        let mut notes = vec![];
        let mut saes = read_databases(&ws, &mut notes);
        let db_paths: Vec<Option<PathBuf>> = saes.iter().map(|s| s.db_path.clone()).collect();
        let sessions = Sessions::new(open_sessions(&db_paths, &wake, &mut notes), &db_paths);
        for (i, s) in ws.saes.iter().enumerate() {
            let Some(p) = &s.store else { continue };
            match Store::open(&ws.resolve(p)) {
                Ok(st) => {
                    saes[i].q999 = st.q999_map();
                    saes[i].store = Some(Arc::new(st));
                }
                Err(e) => notes.push(format!("{}: {e:#}", s.name)),
            }
        }
        for (i, sae) in saes.iter_mut().enumerate() {
            sae.eval = evaluation_row(&ws, i, &mut notes);
            read_release_files(&ws, i, sae, &mut notes);
        }
        Ok(Self {
            workspace: ws,
            saes,
            sessions,
            notes,
        })
    }
}

/// Each SAE's name, layer and neuron database.
fn read_databases(ws: &Workspace, notes: &mut Vec<String>) -> Vec<OpenedSae> {
    let shared_db = match &ws.neuron_db {
        Some(p) => match NeuronDb::load(&ws.resolve(p)) {
            Ok(db) => db,
            Err(e) => {
                notes.push(format!("neuron database not loaded: {e:#}"));
                NeuronDb::default()
            }
        },
        None => NeuronDb::default(),
    };
    let mut saes = vec![];
    for (i, s) in ws.saes.iter().enumerate() {
        let layer = ws
            .sae_spec(i)
            .ok()
            .and_then(|spec| spec.hook)
            .map(|h| h.layer);
        let db = match &s.neuron_db {
            // A candidate's own database that nobody has written yet: empty, created by the
            // first edit.
            Some(p) if !ws.resolve(p).exists() => NeuronDb::default(),
            Some(p) => NeuronDb::load(&ws.resolve(p)).unwrap_or_else(|e| {
                notes.push(format!("{}: neuron database not loaded: {e:#}", s.name));
                NeuronDb::default()
            }),
            None => shared_db.clone(),
        };
        let db_path = s
            .neuron_db
            .as_ref()
            .or(ws.neuron_db.as_ref())
            .map(|p| ws.resolve(p));
        saes.push(OpenedSae {
            name: s.name.clone(),
            layer: layer.unwrap_or(0),
            db,
            db_path,
            q999: Default::default(),
            quantiles_from: None,
            selected: None,
            store: None,
            eval: None,
        });
    }
    saes
}

/// SAE `i`'s Safe-SAIL indices file (the latents the safety overview considers) and quantile
/// file (its 0.999 quantiles, used when it has no feature store), when the workspace names them.
fn read_release_files(ws: &Workspace, i: usize, sae: &mut OpenedSae, notes: &mut Vec<String>) {
    let s = &ws.saes[i];
    let Some(ip) = s.indices.as_deref().map(|p| ws.resolve(p)) else {
        if s.quantiles.is_some() {
            notes.push(format!(
                "{}: the quantile file is not used without its indices file (its columns belong \
                 to the ids listed there)",
                s.name
            ));
        }
        return;
    };
    let ids: Vec<u32> = match crate::sae::read_index_ids(&ip) {
        Ok(ids) => ids,
        Err(e) => {
            notes.push(format!("{}: {e:#}", s.name));
            return;
        }
    };
    sae.selected = Some(Arc::new(ids.iter().copied().collect()));
    let Some(qp) = s.quantiles.as_deref().map(|p| ws.resolve(p)) else {
        return;
    };
    if sae.store.is_some() {
        return;
    }
    let tokens = s.quantile_tokens.unwrap_or(super::release::RELEASE_TOKENS);
    match crate::sae::read_quantile_file(&qp, tokens, Some(ids.len())) {
        Ok(q) => {
            sae.q999 = q.by_id(&ids);
            sae.quantiles_from = Some(qp);
        }
        Err(e) => notes.push(format!("{}: {e:#}", s.name)),
    }
}

/// One editing session per distinct database file, in either form (a Safe-SAIL file stays one:
/// one note per such file says where its review fields go).
fn open_sessions(
    db_paths: &[Option<PathBuf>],
    wake: &Arc<dyn Fn() + Send + Sync>,
    notes: &mut Vec<String>,
) -> Vec<EditSession> {
    let mut sessions: Vec<EditSession> = vec![];
    for p in db_paths.iter().flatten() {
        if sessions.iter().any(|s| &s.path == p) {
            continue;
        }
        let w = wake.clone();
        match EditSession::open(p, move || w()) {
            Ok(s) => {
                if s.db.kind == DbKind::SafeSail {
                    notes.push(format!(
                        "{} is a Safe-SAIL database: edits are saved to it in its own form \
                         (review status and notes in {})",
                        p.display(),
                        crate::db::editable::review_path(p).display()
                    ));
                }
                sessions.push(s)
            }
            Err(e) => notes.push(format!("{}: not editable: {e:#}", p.display())),
        }
    }
    sessions
}

/// SAE `i`'s row of its evaluation folder's `evaluation.json`: the row with the same SAE file
/// name (and the same hook, when the spec names one).
fn evaluation_row(ws: &Workspace, i: usize, notes: &mut Vec<String>) -> Option<EvaluationRow> {
    let s = &ws.saes[i];
    let dir = ws.resolve(s.eval.as_deref()?);
    let path = dir.join("evaluation.json");
    if let Err(e) = std::fs::metadata(&path) {
        notes.push(format!("{}: no evaluation ({e})", s.name));
        return None;
    }
    let report = EvaluationReport::load(&path)
        .map_err(|e| notes.push(format!("{}: {e:#}", s.name)))
        .ok()?;
    let spec = ws.sae_spec(i).ok();
    let file = spec.as_ref().and_then(|sp| {
        sp.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
    });
    report.rows.into_iter().find(|r| {
        let same_file = file.as_deref().is_some_and(|f| r.fidelity.sae.ends_with(f));
        let same_hook = spec
            .as_ref()
            .and_then(|sp| sp.hook)
            .is_none_or(|h| r.fidelity.hook == h.to_string());
        same_file && same_hook
    })
}

impl Workspace {
    /// Loads the model and every SAE (checked against the model), reporting each step
    /// through `status`. An SAE that fails to load is reported and left out (`None`), with
    /// its description `None` too; a model that fails to load is an error.
    pub fn load_model(
        &self,
        status: &dyn Fn(String),
    ) -> Result<(LoadedModel, Vec<Option<SaeInfo>>)> {
        self.load_model_reporting(status, &crate::progress::Silent)
    }

    /// [`Workspace::load_model`], reporting its steps to `progress`: the model's weights in
    /// bytes (message `model · FILE`), then the SAEs one by one (message `SAE i/n · NAME`).
    pub fn load_model_reporting(
        &self,
        status: &dyn Fn(String),
        progress: &dyn crate::progress::Progress,
    ) -> Result<(LoadedModel, Vec<Option<SaeInfo>>)> {
        status(format!("loading model {} …", self.model));
        let device = parse_device(&self.device)?;
        let dtype = parse_dtype(&self.dtype)?;
        let mut model = Model::load_reporting(
            &self.model_spec(),
            &device,
            dtype,
            &crate::progress::Prefixed::new(progress, "model · "),
        )?;
        model.mask_special_attention = self.mask_special_attention;
        let mut saes = vec![];
        let mut infos = vec![];
        progress.set_len(self.saes.len() as u64);
        for (i, s) in self.saes.iter().enumerate() {
            status(format!("loading SAE {} …", s.name));
            progress.set_pos(i as u64);
            progress.message(&format!("SAE {}/{} · {}", i + 1, self.saes.len(), s.name));
            let loaded = self
                .sae_spec(i)
                .and_then(|spec| load_sae(&spec, &device))
                .and_then(|sae| check_sae_fits(&model, &sae).map(|_| sae));
            match loaded {
                Ok(sae) => {
                    infos.push(Some(SaeInfo::new(&s.name, &sae)));
                    saes.push(Some(sae));
                }
                Err(e) => {
                    status(format!("SAE {} not loaded: {e:#}", s.name));
                    infos.push(None);
                    saes.push(None);
                }
            }
        }
        progress.set_pos(self.saes.len() as u64);
        Ok((LoadedModel { model, saes }, infos))
    }

    /// Creates an empty editable neuron database beside the workspace file (`neurons.json`,
    /// or `neurons-N.json` when taken), points the workspace at it and saves the workspace
    /// file. Returns the database's path and its editing session.
    pub fn create_neuron_db(&mut self) -> Result<(PathBuf, EditSession)> {
        let (file, name, path, session) = self.new_db_file("neurons", None)?;
        self.neuron_db = Some(name);
        self.save_as(&file)?;
        Ok((path, session))
    }

    /// Creates an editable neuron database for SAE `i` alone, beside the workspace file
    /// (`neurons-NAME.json`, NAME from the SAE's display name; `-N` added when taken), holding
    /// the records of `shown` (what the window showed for it read-only: nothing is lost),
    /// points that SAE at it and saves the workspace file. Returns the path and its session.
    pub fn create_sae_neuron_db(
        &mut self,
        i: usize,
        shown: &crate::db::NeuronDb,
    ) -> Result<(PathBuf, EditSession)> {
        let Some(sae) = self.saes.get(i) else {
            bail!("the workspace has no SAE {i}");
        };
        let slug: String = sae
            .name
            .chars()
            .map(|c| if c.is_alphanumeric() { c } else { '-' })
            .collect::<String>()
            .split('-')
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        let stem = if slug.is_empty() {
            format!("neurons-sae{i}")
        } else {
            format!("neurons-{slug}")
        };
        let mut seed =
            crate::db::editable::EditableDb::parse(&serde_json::to_string(&shown.records)?)?;
        seed.kind = crate::db::editable::DbKind::Ours;
        let (file, name, path, session) = self.new_db_file(&stem, Some(seed))?;
        self.saes[i].neuron_db = Some(name);
        self.save_as(&file)?;
        Ok((path, session))
    }

    /// A new database file `STEM.json` (or `STEM-N.json` when taken) beside the workspace file,
    /// empty or holding `seed`: (workspace file, database name relative to it, its path, its
    /// session).
    fn new_db_file(
        &self,
        stem: &str,
        seed: Option<crate::db::editable::EditableDb>,
    ) -> Result<(PathBuf, String, PathBuf, EditSession)> {
        let Some(file) = self.file.clone() else {
            bail!("the workspace has no file");
        };
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut name = format!("{stem}.json");
        let mut k = 1;
        while dir.join(&name).exists() {
            name = format!("{stem}-{k}.json");
            k += 1;
        }
        let path = dir.join(&name);
        let seeded = seed.is_some();
        if let Some(seed) = seed {
            seed.save(&path)?;
        }
        let session = EditSession::open(&path, || {})?;
        if !seeded {
            session.db.save(&path)?;
        }
        Ok((file, name, path, session))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/workspace/stand-in.sail.json")
    }

    #[test]
    fn opens_the_fixture_workspace_files() {
        let w = OpenedWorkspace::open(&fixture(), || {}).unwrap();
        assert!(w.notes.is_empty(), "{:?}", w.notes);
        assert_eq!(w.saes.len(), 3);
        // Layers come from the specs until the SAEs are loaded: only the third names its hook.
        assert_eq!(
            w.saes.iter().map(|s| s.layer).collect::<Vec<_>>(),
            [0, 0, 2]
        );
        assert!(w
            .saes
            .iter()
            .all(|s| s.store.is_some() && s.q999.len() == 256));
        // Every SAE found its own evaluation row, by file name.
        let rows: Vec<&str> = w
            .saes
            .iter()
            .map(|s| s.eval.as_ref().unwrap().fidelity.sae.as_str())
            .collect();
        assert!(rows[0].ends_with("saelens_standard_legacy"), "{rows:?}");
        assert!(rows[1].ends_with("saelens_topk"), "{rows:?}");
        assert!(rows[2].ends_with("safesail_jumprelu.pt"), "{rows:?}");
        // One shared editable database, edited by every SAE.
        assert_eq!(w.sessions.len(), 1);
        assert!((0..3).all(|i| w.sessions.for_sae(i).is_some()));
        assert!(w.saes[0].db.get(0, 145).is_some());
        assert_eq!(w.saes[1].db_path, w.saes[0].db_path);
    }

    #[test]
    fn a_missing_workspace_file_is_an_error() {
        let err = OpenedWorkspace::open(Path::new("/nonexistent/x.sail.json"), || {})
            .err()
            .unwrap();
        assert!(format!("{err:#}").contains("cannot read workspace /nonexistent/x.sail.json"));
    }
}
