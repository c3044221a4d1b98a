//! The Safe-SAIL paper's release opened directly: `workspace safe-sail` on the release layout
//! (tests/fixtures/release, made by `tools/make_fixtures.py --release-only`), its quantile files
//! against the 0.999 quantiles computed in Python, the workspace it writes opened as the window
//! opens it, the same files from a Hugging Face cache, what is missing, and a Safe-SAIL neuron
//! database edited in place with `db set`.

mod common;

use common::*;
use safe_sail::db::editable::{read_history, review_path, DbKind, EditableDb};
use safe_sail::sae::{read_quantile_file, ColumnOrder};
use safe_sail::workspace::OpenedWorkspace;
use std::path::{Path, PathBuf};

fn release() -> PathBuf {
    fixtures().join("release")
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn run(args: &[&str], env: &[(&str, &Path)]) -> std::process::Output {
    let mut c = bin();
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn ok(args: &[&str], env: &[(&str, &Path)]) -> String {
    let o = run(args, env);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(args: &[&str], env: &[(&str, &Path)]) -> String {
    let o = run(args, env);
    assert!(!o.status.success(), "{args:?} should fail");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Copies a folder tree (the fixture is small).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// Lays `from` out as the Hugging Face cache stores a snapshot: every file's bytes in `blobs`
/// (named by number here, by hash there), and in `to` a link to its blob.
#[cfg(unix)]
fn link_dir_as_cache(from: &Path, to: &Path, blobs: &Path) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::create_dir_all(blobs).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            link_dir_as_cache(&p, &to.join(e.file_name()), blobs);
        } else {
            let blob = blobs.join(format!("{}", std::fs::read_dir(blobs).unwrap().count()));
            std::fs::copy(&p, &blob).unwrap();
            std::os::unix::fs::symlink(&blob, to.join(e.file_name())).unwrap();
        }
    }
}

/// Every file under `dir` with its bytes.
fn contents(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(contents(&p));
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out.sort();
    out
}

/// One layer of `expected.json`: (layer, ids, 0.999 quantile per column).
type ExpectedLayer = (usize, Vec<u32>, Vec<f64>);

/// The expected 0.999 quantiles, per layer.
fn expected() -> (u64, Vec<ExpectedLayer>) {
    let e = read_json(&release().join("expected.json"));
    let n = e["n"].as_u64().unwrap();
    let mut layers: Vec<ExpectedLayer> = e["layers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(l, v)| {
            (
                l.parse().unwrap(),
                v["ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as u32)
                    .collect(),
                v["q999"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect(),
            )
        })
        .collect();
    layers.sort_by_key(|l| l.0);
    (n, layers)
}

#[test]
fn quantile_files_give_the_papers_0999_quantile() {
    let (n, layers) = expected();
    for (layer, ids, q) in layers {
        let f = release().join(format!(
            "data/activation/quantiles/quantile_layer{layer}.pt"
        ));
        let got = read_quantile_file(&f, n, Some(ids.len())).unwrap();
        assert_eq!(got.k, 50);
        // Layer 0 is stored smallest first, layer 2 largest first (and in bf16): same result.
        let order = if layer == 0 {
            ColumnOrder::Ascending
        } else {
            ColumnOrder::Descending
        };
        assert_eq!(got.order, order);
        for (c, (a, b)) in got.q999.iter().zip(&q).enumerate() {
            assert!(
                (*a as f64 - b).abs() <= 1e-5 * b.abs().max(1.0),
                "layer {layer} column {c}: {a} vs Python {b}"
            );
        }
    }
    // Bad input: clear errors naming the file.
    let f = release().join("data/activation/quantiles/quantile_layer0.pt");
    let e = format!("{:#}", read_quantile_file(&f, n, Some(7)).unwrap_err());
    assert!(
        e.contains("quantile_layer0.pt") && e.contains("24 columns") && e.contains("lists 7"),
        "{e}"
    );
    let e = format!("{:#}", read_quantile_file(&f, 1_000_000, None).unwrap_err());
    assert!(
        e.contains("top 50 of 1000000") && e.contains("needs the top 1001"),
        "{e}"
    );
    let idx = release().join("data/activation/indices/indices_layer0.pt");
    let e = format!("{:#}", read_quantile_file(&idx, n, None).unwrap_err());
    assert!(
        e.contains("indices_layer0.pt") && e.contains("top_neuron_activations"),
        "{e}"
    );
}

#[test]
fn workspace_from_the_release_folder_opens_with_its_quantiles_and_indices() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("paper.sail.json");
    let model = fixtures().join("models/qwen2");
    let out = ok(
        &[
            "workspace",
            "safe-sail",
            "--model",
            &s(&model),
            "--release",
            &s(&release()),
            "--out",
            &s(&ws),
            "--quantile-tokens",
            "1250",
            "--dtype",
            "f32",
        ],
        &[],
    );
    assert!(
        out.contains("layer 0:") && out.contains("layer 2:"),
        "{out}"
    );
    assert!(out.contains("24 safety-neuron ids (20 distinct)"), "{out}");
    assert!(out.contains("stored descending"), "{out}");
    assert!(!out.contains("note:"), "nothing is missing: {out}");
    let v = read_json(&ws);
    assert_eq!(v["dtype"], "f32");
    assert_eq!(v["saes"].as_array().unwrap().len(), 2);
    assert!(v["saes"][1]["sae"]
        .as_str()
        .unwrap()
        .ends_with("ckpt_layer2.pt,format=safe-sail,component=0,activation=topk:200,hook=blocks.2.hook_mlp_out"));
    assert!(v["neuron_db"].as_str().unwrap().ends_with("en_db.json"));

    let opened = OpenedWorkspace::open(&ws, || {}).unwrap();
    // The database is the paper's own file, edited in place: one note for it, none per SAE.
    assert_eq!(opened.notes.len(), 1, "{:?}", opened.notes);
    assert!(opened.notes[0].contains("en_db.json is a Safe-SAIL database"));
    assert_eq!(opened.sessions.len(), 1);
    let (_, layers) = expected();
    for (sae, (layer, ids, q)) in opened.saes.iter().zip(layers) {
        assert_eq!(sae.layer, layer);
        let sel = sae.selected.as_ref().unwrap();
        assert_eq!(sel.len(), 20);
        assert!(ids.iter().all(|i| sel.contains(i)));
        // No feature store: the release's quantiles normalize.
        assert!(sae.store.is_none());
        assert_eq!(sae.q999.len(), 20);
        for (id, want) in ids.iter().zip(&q) {
            let got = sae.q999[id] as f64;
            assert!((got - want).abs() <= 1e-5 * want.max(1.0), "{layer}_{id}");
        }
        assert!(sae.quantiles_from.is_some());
    }
    // The model and SAEs load from it (TopK 200 of the fixture's 256 latents).
    let w = safe_sail::workspace::Workspace::load(&ws).unwrap();
    // Activations read as the authors' demo reads them: chat markers hidden from attention.
    assert!(w.mask_special_attention);
    let (_, infos) = w.load_model(&|_| {}).unwrap();
    assert!(infos.iter().all(Option::is_some));
    assert_eq!(infos[1].as_ref().unwrap().activation, "topk:200");

    // The Chinese database instead.
    let ws_cn = tmp.path().join("cn.sail.json");
    ok(
        &[
            "workspace",
            "safe-sail",
            "--model",
            &s(&model),
            "--release",
            &s(&release().join("data")),
            "--out",
            &s(&ws_cn),
            "--lang",
            "cn",
            "--quantile-tokens",
            "1250",
        ],
        &[],
    );
    assert!(read_json(&ws_cn)["neuron_db"]
        .as_str()
        .unwrap()
        .ends_with("cn_db.json"));
}

/// The release and the model from a Hugging Face cache laid out as the hub client lays it out
/// (snapshot files are links into `blobs/`): the workspace names the snapshot's files, the
/// database is copied beside the workspace, and editing it leaves every cached byte as it was.
#[cfg(unix)]
#[test]
fn the_release_and_model_from_the_hugging_face_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("hub");
    let snap = |repo: &str, rev: &str| {
        let d = cache.join(format!("models--{}", repo.replace('/', "--")));
        std::fs::create_dir_all(d.join("refs")).unwrap();
        std::fs::write(d.join("refs/main"), rev).unwrap();
        (d.join("snapshots").join(rev), d.join("blobs"))
    };
    let (rel_snap, rel_blobs) = snap("OysterAI/Qwen2.5-3B-Instruct-SAEs", "abc123");
    link_dir_as_cache(&release().join("data"), &rel_snap.join("data"), &rel_blobs);
    let (model_snap, model_blobs) = snap("Qwen/Qwen2.5-3B-Instruct", "def456");
    link_dir_as_cache(&fixtures().join("models/qwen2"), &model_snap, &model_blobs);
    let cached = contents(&cache);
    let ws = tmp.path().join("hub.sail.json");
    // --release defaults to the release's hub id.
    let write_workspace = || {
        ok(
            &[
                "workspace",
                "safe-sail",
                "--model",
                "Qwen/Qwen2.5-3B-Instruct",
                "--out",
                &s(&ws),
                "--quantile-tokens",
                "1250",
            ],
            &[("HF_HUB_CACHE", &cache)],
        )
    };
    let out = write_workspace();
    assert!(out.contains("snapshots/abc123/data"), "{out}");
    let v = read_json(&ws);
    assert_eq!(v["model"], "Qwen/Qwen2.5-3B-Instruct");
    assert!(v["saes"][0]["quantiles"]
        .as_str()
        .unwrap()
        .contains("abc123/data/activation/quantiles/quantile_layer0.pt"));
    assert!(v["saes"][0]["sae"]
        .as_str()
        .unwrap()
        .contains("abc123/data/sae_checkpoints/ckpt_layer0.pt"));
    assert!(!v.to_string().contains("blobs"), "no blob named: {v}");
    // The database: a copy beside the workspace, edited there.
    assert_eq!(v["neuron_db"], "en_db.json");
    assert!(out.contains("copied the release's database out of the Hugging Face cache"));
    let copy = tmp.path().join("en_db.json");
    let id = EditableDb::load(&copy)
        .unwrap()
        .entries
        .keys()
        .next()
        .unwrap()
        .clone();
    ok(
        &[
            "db",
            "set",
            &s(&copy),
            &id,
            "--explanation",
            "edited",
            "--status",
            "verified",
        ],
        &[],
    );
    let opened = OpenedWorkspace::open(&ws, || {}).unwrap();
    assert_eq!(opened.notes.len(), 1, "one notice: {:?}", opened.notes);
    // Written again: the edited copy is kept.
    let again = write_workspace();
    assert!(again.contains("kept the existing copy"), "{again}");
    let db = EditableDb::load(&copy).unwrap();
    assert_eq!(
        db.record(&id).unwrap().explanation.as_deref(),
        Some("edited")
    );
    // The snapshot folder given as a folder is still the cache: its database is copied too,
    // and the cached file itself cannot be edited.
    let snap_ws = tmp.path().join("by-folder/w.sail.json");
    let out = ok(
        &[
            "workspace",
            "safe-sail",
            "--model",
            &s(&model_snap),
            "--release",
            &s(&rel_snap),
            "--out",
            &s(&snap_ws),
            "--quantile-tokens",
            "1250",
        ],
        &[],
    );
    assert!(out.contains("copied the release's database"), "{out}");
    assert_eq!(read_json(&snap_ws)["neuron_db"], "en_db.json");
    let cached_db = s(&rel_snap.join("data/neuron_db/en_db.json"));
    let e = err(&["db", "set", &cached_db, &id, "--explanation", "x"], &[]);
    assert!(e.contains("Hugging Face cache"), "{e}");
    assert_eq!(contents(&cache), cached, "nothing in the cache changed");
    // Not in the cache: a clear error that says where it looked and how to get it.
    let e = err(
        &[
            "workspace",
            "safe-sail",
            "--model",
            "Qwen/Qwen2.5-3B-Instruct",
            "--release",
            "someone/else",
            "--out",
            &s(&ws),
        ],
        &[("HF_HUB_CACHE", &cache)],
    );
    assert!(
        e.contains("someone/else") && e.contains("huggingface-cli download"),
        "{e}"
    );
}

/// The quantile files are read once, when the workspace opens, and kept per SAE: the window's
/// SAE slots normalize from that copy whatever happens to the files afterwards (opening a
/// neuron reads nothing again).
#[test]
fn quantiles_are_read_once_per_workspace_open() {
    use safe_sail::app::ctx::SaeSlot;
    use safe_sail::inspect::SaeNeurons;
    let tmp = tempfile::tempdir().unwrap();
    let rel = tmp.path().join("rel");
    copy_dir(&release(), &rel);
    let ws = tmp.path().join("w.sail.json");
    let model = fixtures().join("models/qwen2");
    ok(
        &[
            "workspace",
            "safe-sail",
            "--model",
            &s(&model),
            "--release",
            &s(&rel),
            "--out",
            &s(&ws),
            "--quantile-tokens",
            "1250",
        ],
        &[],
    );
    let opened = OpenedWorkspace::open(&ws, || {}).unwrap();
    let q = rel.join("data/activation/quantiles");
    std::fs::remove_dir_all(&q).unwrap();
    let (_, layers) = expected();
    for (sae, (layer, ids, want)) in opened.saes.into_iter().zip(layers) {
        let slot = SaeSlot::from(sae);
        for (id, w) in ids.iter().zip(&want) {
            let got = slot.q999(*id).unwrap() as f64;
            assert!((got - w).abs() <= 1e-5 * w.max(1.0), "{layer}_{id}");
        }
    }
    // Opening again reads the files again: now they are gone, which is a note.
    let again = OpenedWorkspace::open(&ws, || {}).unwrap();
    assert!(again.saes.iter().all(|s| s.q999.is_empty()));
    assert!(
        again.notes.iter().any(|n| n.contains("quantile_layer0.pt")),
        "{:?}",
        again.notes
    );
}

#[test]
fn missing_parts_are_notes_and_missing_checkpoints_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let rel = tmp.path().join("rel");
    copy_dir(&release(), &rel);
    let d = rel.join("data");
    std::fs::remove_file(d.join("activation/quantiles/quantile_layer2.pt")).unwrap();
    std::fs::remove_file(d.join("activation/indices/indices_layer0.pt")).unwrap();
    std::fs::remove_file(d.join("neuron_db/en_db.json")).unwrap();
    let ws = tmp.path().join("w.sail.json");
    let model = fixtures().join("models/qwen2");
    let args = [
        "workspace",
        "safe-sail",
        "--model",
        &s(&model),
        "--release",
        &s(&rel),
        "--out",
        &s(&ws),
        "--quantile-tokens",
        "1250",
    ];
    let out = ok(&args, &[]);
    let notes: Vec<&str> = out.lines().filter(|l| l.starts_with("note:")).collect();
    assert_eq!(notes.len(), 4, "{out}");
    assert!(out.contains("layer 0: no indices file"), "{out}");
    assert!(
        out.contains("quantile_layer0.pt is not used"),
        "without ids its columns mean nothing: {out}"
    );
    assert!(out.contains("layer 2: no quantile file"), "{out}");
    assert!(out.contains("no neuron database"), "{out}");
    let opened = OpenedWorkspace::open(&ws, || {}).unwrap();
    assert!(opened.saes[0].selected.is_none() && opened.saes[0].q999.is_empty());
    assert!(opened.saes[1].selected.is_some() && opened.saes[1].q999.is_empty());

    // A quantile file whose columns do not match its indices file: an error naming it.
    std::fs::copy(
        d.join("activation/indices/indices_layer2.pt"),
        d.join("activation/indices/indices_layer0.pt"),
    )
    .unwrap();
    std::fs::copy(
        fixtures().join("saes/safesail_topk.pt"),
        d.join("activation/quantiles/quantile_layer2.pt"),
    )
    .unwrap();
    let e = err(&args, &[]);
    assert!(
        e.contains("quantile_layer2.pt") && e.contains("top_neuron_activations"),
        "{e}"
    );
    // No checkpoints at all.
    for l in [0, 2] {
        std::fs::remove_file(d.join(format!("sae_checkpoints/ckpt_layer{l}.pt"))).unwrap();
    }
    let e = err(&args, &[]);
    assert!(
        e.contains("no SAE checkpoints") && e.contains("sae_checkpoints"),
        "{e}"
    );
    // Not a release at all.
    let e = err(
        &[
            "workspace",
            "safe-sail",
            "--model",
            &s(&model),
            "--release",
            &s(tmp.path()),
            "--out",
            &s(&ws),
        ],
        &[],
    );
    assert!(e.contains("data/sae_checkpoints"), "{e}");
}

#[test]
fn db_set_edits_a_safe_sail_database_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("en_db.json");
    let src = release().join("data/neuron_db/en_db.json");
    std::fs::copy(&src, &db).unwrap();
    let before = std::fs::read_to_string(&db).unwrap();
    let v0: serde_json::Value = serde_json::from_str(&before).unwrap();
    let id = v0.as_object().unwrap().keys().nth(1).unwrap().clone();
    let out = ok(
        &[
            "db",
            "set",
            &s(&db),
            &id,
            "--explanation",
            "Weapons and attacks 武器",
            "--tags",
            "violence,terror",
            "--status",
            "verified",
            "--note",
            "checked by hand",
        ],
        &[],
    );
    // The four fields, the score marked stale (a new explanation) and the explanation's author.
    assert!(out.contains("6 field(s) changed"), "{out}");
    // Still Safe-SAIL JSON, as their tools write it: the same bytes but for this neuron.
    let after = std::fs::read_to_string(&db).unwrap();
    assert!(after.starts_with('{') && !after.contains("\"format\""));
    assert!(after.is_ascii(), "ensure_ascii, as json.dumps writes");
    let v1: serde_json::Value = serde_json::from_str(&after).unwrap();
    assert_eq!(v1[&id]["explanation"], "Weapons and attacks 武器");
    assert_eq!(
        v1[&id]["tag_list"],
        serde_json::json!(["violence", "terror"])
    );
    assert!(v1[&id].get("review_status").is_none());
    let mut v = v0.clone();
    v[&id] = v1[&id].clone();
    assert_eq!(v, v1);
    let restored = EditableDb::parse(&after).unwrap();
    let mut back = restored.clone();
    back.entries[&id] = v0[&id].clone();
    assert_eq!(back.to_safe_sail(), before, "byte for byte elsewhere");
    // Our fields went to the review sidecar; reading the database brings them back.
    let review = read_json(&review_path(&db));
    assert_eq!(review["neurons"][&id]["review_status"], "verified");
    assert_eq!(review["neurons"][&id]["score_stale"], true);
    assert_eq!(v1[&id]["correlation_score"], v0[&id]["correlation_score"]);
    let d = EditableDb::load(&db).unwrap();
    assert_eq!(d.kind, DbKind::SafeSail);
    assert_eq!(d.note(&id), "checked by hand");
    let shown = ok(&["db", "show", &s(&db), &id], &[]);
    assert!(shown.contains("verified"), "{shown}");
    // History, as for our own format.
    let h = read_history(&db).unwrap();
    assert_eq!(h.len(), 6);
    assert!(h.iter().all(|c| c.neuron == id));
    // Later edits keep the file's form.
    ok(
        &[
            "db",
            "set",
            &s(&db),
            &id,
            "--status",
            "unreviewed",
            "--note",
            "",
        ],
        &[],
    );
    assert!(EditableDb::load(&db).unwrap().kind == DbKind::SafeSail);
    // Export of the edited file equals the file itself.
    let exported = tmp.path().join("export.json");
    ok(&["db", "export", &s(&db), "--out", &s(&exported)], &[]);
    assert_eq!(
        std::fs::read(&exported).unwrap(),
        std::fs::read(&db).unwrap()
    );
}

/// `generate --release`: without --sae the release's SAEs load, and its quantile files give
/// tripwires their normalized thresholds (the release's SAE without them has no scale).
#[test]
fn tripwires_take_their_scale_from_the_releases_quantile_files() {
    use safe_sail::workspace::release::layer_quantiles;
    let (n, layers) = expected();
    let data = release().join("data");
    for (layer, ids, q) in &layers {
        let got = layer_quantiles(&data, *layer, n).unwrap().unwrap();
        for (i, id) in ids.iter().enumerate() {
            if ids[..i].contains(id) {
                continue; // a repeated id keeps its first column
            }
            let v = got[id] as f64;
            assert!(
                (v - q[i]).abs() <= 1e-4 * q[i].abs().max(1.0),
                "layer {layer} id {id}: {v} vs {}",
                q[i]
            );
        }
    }
    assert!(
        layer_quantiles(&data, 1, n).unwrap().is_none(),
        "no files for layer 1"
    );
    let model = s(&fixtures().join("models/qwen2"));
    let ckpt = s(&data.join("sae_checkpoints/ckpt_layer0.pt"));
    let spec = format!(
        "{ckpt},format=safe-sail,component=0,activation=topk:200,hook=blocks.0.hook_mlp_out"
    );
    let rel = s(&release());
    let gen = |extra: &[&str]| {
        let mut a = vec![
            "generate",
            "--model",
            &model,
            "--prompt",
            "The quick brown fox",
        ];
        a.extend_from_slice(&["--max-new-tokens", "3", "--tripwire", "0_207>1000"]);
        a.extend_from_slice(&["--quantile-tokens", "1250"]);
        a.extend_from_slice(extra);
        run(&a, &[])
    };
    let o = gen(&["--sae", &spec]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success(),
        "no scale without a store or the release"
    );
    assert!(
        e.contains("--release"),
        "the error says where a scale comes from: {e}"
    );
    for extra in [
        &["--release", &rel][..],
        &["--release", &rel, "--sae", &spec],
    ] {
        let o = gen(extra);
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{extra:?}: {e}");
        assert!(!e.contains("unnormalized"), "0_207 has its quantile: {e}");
    }
}
