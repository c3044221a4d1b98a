//! Results other tools open: the Neuronpedia export (rows checked against the committed
//! schema, then imported back), the dashboard (one self-contained HTML file; JSON checked
//! against its schema) and `sparsity.safetensors` beside a SAELens folder.

mod common;

use common::*;
use safe_sail::db::editable::{read_history, EditableDb};
use safe_sail::db::provenance::ExplanationSource;
use safe_sail::interop::{dashboard, neuronpedia, sparsity};
use safe_sail::store::Store;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data")
}

fn store_dir() -> PathBuf {
    sample().join("stores").join("L1-mlp_out-w1024-topk16")
}

fn schema(name: &str) -> Value {
    read_json(&fixtures().join("interop").join(name))
}

/// Checks `v` against the subset of JSON Schema our committed schemas use (`type`,
/// `required`, `properties`, `additionalProperties: false`, `items`, `enum`, `minItems`);
/// returns the first violation with its path.
fn validate(v: &Value, s: &Value, at: &str) -> Result<(), String> {
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(x) => vec![x.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "number" => v.is_number(),
            "integer" => v.is_i64() || v.is_u64(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            _ => false,
        });
        if !ok {
            return Err(format!("{at}: {v} is not of type {types:?}"));
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            return Err(format!("{at}: {v} is not one of {e:?}"));
        }
    }
    if let Some(o) = v.as_object() {
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let r = r.as_str().unwrap();
            if !o.contains_key(r) {
                return Err(format!("{at}: required `{r}` is missing"));
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        for (k, x) in o {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => validate(x, ps, &format!("{at}.{k}"))?,
                None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return Err(format!("{at}: `{k}` is not in the schema"))
                }
                None => {}
            }
        }
    }
    if let Some(a) = v.as_array() {
        if let Some(m) = s.get("minItems").and_then(Value::as_u64) {
            if (a.len() as u64) < m {
                return Err(format!("{at}: fewer than {m} items"));
            }
        }
        if let Some(is) = s.get("items") {
            for (i, x) in a.iter().enumerate() {
                validate(x, is, &format!("{at}[{i}]"))?;
            }
        }
    }
    Ok(())
}

#[test]
fn the_schema_check_can_fail() {
    let s = schema("neuronpedia.schema.json")["$defs"]["explanation"].clone();
    let good = serde_json::json!({"id": "a", "modelId": "m", "layer": "1-x", "index": "3",
        "authorId": null, "description": "d", "embedding": null, "typeName": "t",
        "explanationModelName": null, "umap_x": null, "umap_y": null, "umap_cluster": null,
        "umap_log_feature_sparsity": null});
    validate(&good, &s, "$").unwrap();
    let mut extra = good.clone();
    extra["surprise"] = 1.into();
    assert!(validate(&extra, &s, "$").is_err());
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("description");
    assert!(validate(&missing, &s, "$").is_err());
    let mut wrong = good;
    wrong["index"] = 3.into();
    assert!(validate(&wrong, &s, "$").is_err());
}

#[test]
fn neuronpedia_export_follows_the_schema_and_its_explanations_import_back() {
    let tmp = tempfile::tempdir().unwrap();
    let db = EditableDb::load(&sample().join("neurons.json")).unwrap();
    let names = neuronpedia::ExportNames {
        model_id: Some("safe-sail-sample".into()),
        neighbours: 5,
        ..Default::default()
    };
    let out = tmp.path().join("np");
    let r = neuronpedia::export(&store_dir(), Some(&db), &names, &out).unwrap();
    assert_eq!(
        r.dir,
        out.join("safe-sail-sample").join("1-safesail-mlp-out")
    );
    let store = Store::open(&store_dir()).unwrap();
    assert_eq!(r.features, store.meta.d_sae);
    let s = schema("neuronpedia.schema.json");
    let rows = |kind: &str| -> Vec<Value> {
        let rows: Vec<Value> = neuronpedia::read_rows(&r.dir.join(kind)).unwrap();
        let def = &s["$defs"][kind.trim_end_matches('s')];
        for (i, row) in rows.iter().enumerate() {
            validate(row, def, &format!("{kind}[{i}]")).unwrap();
        }
        rows
    };
    let (feats, acts, expls) = (rows("features"), rows("activations"), rows("explanations"));
    assert_eq!(feats.len(), r.features);
    assert_eq!(acts.len(), r.activations);
    assert_eq!(expls.len(), r.explanations);
    let f5 = feats.iter().find(|f| f["index"] == "5").unwrap();
    let s5 = store.feature(5).unwrap();
    assert_eq!(f5["maxActApprox"].as_f64().unwrap(), s5.max_act as f64);
    assert_eq!(f5["frac_nonzero"].as_f64().unwrap(), s5.density);
    assert_eq!(f5["hookName"], "blocks.1.hook_mlp_out");
    // Its five nearest latents by decoder cosine, as the library finds them one at a time.
    let sae = safe_sail::sae::load_sae(
        &store.sae_path().parse().unwrap(),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let dec = safe_sail::families::unit_decoder(&sae).unwrap();
    let want = safe_sail::families::neighbours(&dec, 5, 5).unwrap();
    let got_i: Vec<u32> = f5["topkCosSimIndices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    assert_eq!(got_i, want.iter().map(|p| p.0).collect::<Vec<_>>());
    let got_v = f5["topkCosSimValues"].as_array().unwrap();
    assert!((got_v[0].as_f64().unwrap() - want[0].1 as f64).abs() < 1e-6);
    assert_eq!(f5["pos_str"][0].as_str().unwrap(), s5.top_logit_tokens[0]);
    assert_eq!(
        f5["neg_str"][0].as_str().unwrap(),
        s5.bottom_logit_tokens[0]
    );
    let bars: f64 = f5["freq_hist_data_bar_heights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert_eq!(bars as u64, s5.hist_counts.iter().sum::<u64>());
    let ex5 = store.examples(5);
    let a5: Vec<&Value> = acts.iter().filter(|a| a["index"] == "5").collect();
    assert_eq!(a5.len(), ex5.len());
    let tops = a5.iter().filter(|a| a["binMin"] == -1.0).count();
    assert_eq!(tops, ex5.iter().filter(|e| e.kind == "top").count());
    let first = &ex5[0];
    let a = a5
        .iter()
        .find(|a| {
            a["tokens"].as_array().unwrap().len() == first.tokens.len()
                && a["tokens"][0] == first.tokens[0].as_str()
        })
        .unwrap();
    let i = a["maxValueTokenIndex"].as_u64().unwrap() as usize;
    assert_eq!(
        a["values"][i].as_f64().unwrap(),
        a["maxValue"].as_f64().unwrap()
    );
    // Every layer-1 neuron with an explanation in the database, and only those.
    let want: Vec<String> = db
        .entries
        .keys()
        .filter(|k| k.starts_with("1_"))
        .filter(|k| {
            db.record(k)
                .and_then(|r| r.explanation)
                .is_some_and(|t| !t.trim().is_empty())
        })
        .cloned()
        .collect();
    assert!(!want.is_empty());
    assert_eq!(expls.len(), want.len());
    assert_eq!(expls[0]["typeName"], neuronpedia::TYPE_NAME);

    // Back in: a fresh database gets every explanation, with where it came from.
    let back = tmp.path().join("back.json");
    let imp = neuronpedia::import(&out, &back, false).unwrap();
    assert_eq!((imp.rows, imp.set, imp.kept), (want.len(), want.len(), 0));
    let b = EditableDb::load(&back).unwrap();
    for id in &want {
        assert_eq!(
            b.record(id).unwrap().explanation,
            db.record(id).unwrap().explanation,
            "{id}"
        );
        let src = ExplanationSource::of(&b.entries[id]).unwrap();
        let from = src.imported_from.unwrap();
        assert!(
            from.starts_with("neuronpedia:safe-sail-sample/1-safesail-mlp-out/"),
            "{from}"
        );
        assert_eq!(
            src.explanation_type.as_deref(),
            Some(neuronpedia::TYPE_NAME)
        );
        let orig = ExplanationSource::of(&db.entries[id]).unwrap();
        assert_eq!(
            (src.explainer, src.author),
            (orig.explainer, orig.author),
            "{id}"
        );
    }
    let hist = read_history(&back).unwrap();
    assert!(hist
        .iter()
        .all(|c| c.who.starts_with("neuronpedia-import:")));
    // Again: nothing changes.
    let again = neuronpedia::import(&r.dir, &back, false).unwrap();
    assert_eq!((again.unchanged, again.changes), (want.len(), 0));

    // A neuron with its own explanation keeps it unless --replace.
    let id = &want[0];
    safe_sail::db::ops::set(
        &back,
        id,
        &safe_sail::db::editable::Edit {
            explanation: Some(Some("written here".into())),
            ..Default::default()
        },
    )
    .unwrap();
    let kept = neuronpedia::import(&out, &back, false).unwrap();
    assert_eq!((kept.kept, kept.set), (1, 0));
    let b = EditableDb::load(&back).unwrap();
    assert_eq!(
        b.record(id).unwrap().explanation.as_deref(),
        Some("written here")
    );
    let replaced = neuronpedia::import(&out, &back, true).unwrap();
    assert_eq!((replaced.kept, replaced.set), (0, 1));
    let b = EditableDb::load(&back).unwrap();
    assert_eq!(
        b.record(id).unwrap().explanation,
        db.record(id).unwrap().explanation
    );
}

#[test]
fn neuronpedia_import_reads_plain_jsonl_and_names_a_bad_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("gemma-2-2b").join("20-gemmascope-res-16k");
    std::fs::create_dir_all(dir.join("explanations")).unwrap();
    let row = |idx: &str, text: &str| {
        serde_json::json!({"id": format!("x{idx}"), "modelId": "gemma-2-2b",
            "layer": "20-gemmascope-res-16k", "index": idx, "authorId": "u1",
            "description": text, "embedding": null, "typeName": "oai_token-act-pair",
            "explanationModelName": "gpt-4o-mini", "umap_x": null, "umap_y": null,
            "umap_cluster": null, "umap_log_feature_sparsity": null})
        .to_string()
    };
    let text = format!(
        "{}\n{}\n{}\n",
        row("7", "references to 猫"),
        row("7", "a second explanation"),
        row("12", "dates")
    );
    std::fs::write(dir.join("explanations").join("batch-0.jsonl"), text).unwrap();
    let db = tmp.path().join("db.json");
    let r = neuronpedia::import(tmp.path(), &db, false).unwrap();
    assert_eq!((r.rows, r.set, r.duplicates), (3, 2, 1));
    let d = EditableDb::load(&db).unwrap();
    assert_eq!(
        d.record("20_7").unwrap().explanation.as_deref(),
        Some("references to 猫")
    );
    let src = ExplanationSource::of(&d.entries["20_7"]).unwrap();
    assert_eq!(src.explainer, "gpt-4o-mini");
    assert_eq!(src.author.as_deref(), Some("u1"));
    assert_eq!(src.explanation_type.as_deref(), Some("oai_token-act-pair"));

    std::fs::write(
        dir.join("explanations").join("batch-1.jsonl"),
        format!("{}\n{{\"id\": 3\n", row("1", "x")),
    )
    .unwrap();
    let err = format!(
        "{:#}",
        neuronpedia::import(tmp.path(), &db, false).unwrap_err()
    );
    assert!(err.contains("batch-1.jsonl line 2"), "{err}");
    let err = format!(
        "{:#}",
        neuronpedia::import(&tmp.path().join("nothing"), &db, false).unwrap_err()
    );
    assert!(err.contains("nothing"), "{err}");
}

#[test]
fn dashboard_html_is_one_self_contained_file_with_every_example() {
    let tmp = tempfile::tempdir().unwrap();
    let db = EditableDb::load(&sample().join("neurons.json")).unwrap();
    let latents = [0u32, 5, 17];
    let html_path = tmp.path().join("d.html");
    let d = dashboard::export(&store_dir(), Some(&db), &latents, &html_path).unwrap();
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<meta charset=\"utf-8\">"));
    for bad in ["http://", "https://", "<script", "<link", "src=", "url("] {
        assert!(
            !html.contains(bad),
            "the page refers to something outside it: {bad}"
        );
    }
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "one file"
    );
    let store = Store::open(&store_dir()).unwrap();
    let mut examples = 0;
    for l in latents {
        assert!(html.contains(&format!("id=\"latent-{l}\"")));
        let ex = store.examples(l);
        examples += ex.len();
        for e in ex.iter() {
            // Each example's strongest token, highlighted with its value.
            let i = safe_sail::interop::argmax(&e.acts);
            if e.acts[i] > 0.0 {
                assert!(
                    html.contains(&format!("title=\"{:.4}\">", e.acts[i])),
                    "latent {l}: value {} not shown",
                    e.acts[i]
                );
            }
            let text: String = e.tokens.concat();
            assert!(!text.is_empty());
        }
        if let Some(x) = db.record(&format!("1_{l}")).and_then(|r| r.explanation) {
            assert!(
                html.contains(&dashboard::escape(&x)),
                "latent {l}'s explanation"
            );
        }
    }
    assert_eq!(html.matches("<div class=\"ex\">").count(), examples);
    // Chinese text is written as UTF-8 characters, not escaped or lost.
    let han = store
        .examples(0)
        .iter()
        .flat_map(|e| e.tokens.clone())
        .find(|t| t.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)))
        .expect("the sample's examples hold Chinese");
    assert!(html.contains(&dashboard::escape(&han)), "{han}");
    assert_eq!(d.features.len(), 3);

    let json_path = tmp.path().join("d.json");
    dashboard::export(&store_dir(), Some(&db), &latents, &json_path).unwrap();
    let v = read_json(&json_path);
    validate(&v, &schema("dashboard.schema.json"), "$").unwrap();
    let back: dashboard::Dashboard = serde_json::from_value(v).unwrap();
    assert_eq!(back, d);
    let err = dashboard::build(&store_dir(), None, &[99_999])
        .unwrap_err()
        .to_string();
    assert!(err.contains("99999"), "{err}");
}

#[test]
fn sparsity_goes_beside_a_saelens_folder_from_a_store() {
    let tmp = tempfile::tempdir().unwrap();
    let sae = tmp.path().join("sae");
    std::fs::create_dir_all(&sae).unwrap();
    let from = sample().join("saes").join("L1-mlp_out-w1024-topk16");
    for f in ["cfg.json", "sae_weights.safetensors"] {
        std::fs::copy(from.join(f), sae.join(f)).unwrap();
    }
    let p = sparsity::write_from_store(&store_dir(), Some(&sae)).unwrap();
    assert_eq!(p, sae.join("sparsity.safetensors"));
    let got = safe_sail::sae::format::load_sparsity(&sae, Some(1024))
        .unwrap()
        .unwrap();
    let store = Store::open(&store_dir()).unwrap();
    for f in &store.features {
        let want = (f.density + 1e-10).log10() as f32;
        assert!((got[f.latent as usize] - want).abs() < 1e-6);
    }
    // The SAE still loads, and a store of another width is refused.
    let spec: safe_sail::sae::SaeSpec = sae.to_str().unwrap().parse().unwrap();
    safe_sail::sae::load_sae(&spec, &candle_core::Device::Cpu).unwrap();
    let narrow = tmp.path().join("narrow");
    std::fs::create_dir_all(&narrow).unwrap();
    let from = sample().join("saes").join("L1-mlp_out-w512-topk16");
    for f in ["cfg.json", "sae_weights.safetensors"] {
        std::fs::copy(from.join(f), narrow.join(f)).unwrap();
    }
    let err = sparsity::write_from_store(&store_dir(), Some(&narrow))
        .unwrap_err()
        .to_string();
    assert!(err.contains("512") && err.contains("1024"), "{err}");
    let err = sparsity::write_from_store(&store_dir(), Some(tmp.path()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a SAELens folder"), "{err}");
}

#[test]
fn export_and_import_on_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("np");
    let o = bin()
        .args(["export", "neuronpedia", "--store"])
        .arg(store_dir())
        .arg("--db")
        .arg(sample().join("neurons.json"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("1024 features"));
    let db = tmp.path().join("db.json");
    let o = bin()
        .args(["import", "neuronpedia"])
        .arg(&out)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("neurons set"));
    let html = tmp.path().join("d.html");
    let o = bin()
        .args(["export", "dashboard", "--latents", "1,2", "--store"])
        .arg(store_dir())
        .arg("--out")
        .arg(&html)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(html.exists());
    let o = bin()
        .args(["export", "dashboard", "--latents", "x", "--store"])
        .arg(store_dir())
        .arg("--out")
        .arg(&html)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("`x` is not a latent number"));
}

/// A score by another method, as `score --method` records it.
fn method_score(
    method: &str,
    explanation: &str,
    ba: Option<f64>,
    auc: Option<f64>,
) -> safe_sail::db::provenance::MethodScore {
    safe_sail::db::provenance::MethodScore {
        method: method.into(),
        scorer: "judge-model".into(),
        explanation: explanation.into(),
        prompt_version: "v".into(),
        positives: 12,
        negatives: 8,
        date: "unix:1764000000".into(),
        balanced_accuracy: ba,
        f1: ba.map(|x| x - 0.1),
        precision: None,
        recall: None,
        auc,
    }
}

/// The scores by other methods travel with the explanations: Neuronpedia's export gets one
/// `explanation_scores` row per score of the explanation it exports (in the columns of their
/// ExplanationScore table; a score of an earlier explanation is left out), and the dashboard
/// lists each in its JSON and its page.
#[test]
fn method_scores_go_into_the_neuronpedia_export_and_the_dashboard() {
    use safe_sail::db::editable::Edit;
    let tmp = tempfile::tempdir().unwrap();
    let mut db = EditableDb::load(&sample().join("neurons.json")).unwrap();
    let (id, text) = db
        .entries
        .keys()
        .filter(|k| k.starts_with("1_"))
        .find_map(|k| {
            let t = db.record(k)?.explanation?;
            (!t.trim().is_empty() && t != "***").then(|| (k.clone(), t))
        })
        .unwrap();
    let latent: u32 = id[2..].parse().unwrap();
    for m in [
        method_score("detection", &text, Some(0.75), Some(0.9)),
        method_score("embedding", &text, None, Some(0.625)),
        method_score("fuzzing", "an earlier explanation", Some(0.5), None),
    ] {
        db.apply(
            &id,
            &Edit {
                method_score: Some(m),
                ..Default::default()
            },
            "t",
        )
        .unwrap();
    }
    let names = neuronpedia::ExportNames {
        model_id: Some("m".into()),
        neighbours: 0,
        ..Default::default()
    };
    let r = neuronpedia::export(&store_dir(), Some(&db), &names, &tmp.path().join("np")).unwrap();
    assert_eq!(r.scores, 2);
    let rows: Vec<Value> = neuronpedia::read_rows(&r.dir.join("explanation_scores")).unwrap();
    let s = schema("neuronpedia.schema.json");
    for (i, row) in rows.iter().enumerate() {
        validate(
            row,
            &s["$defs"]["explanation_score"],
            &format!("scores[{i}]"),
        )
        .unwrap();
    }
    assert_eq!(rows.len(), 2);
    let expls: Vec<Value> = neuronpedia::read_rows(&r.dir.join("explanations")).unwrap();
    let index = latent.to_string();
    let ex = expls.iter().find(|e| e["index"] == index.as_str()).unwrap();
    let typed = |t: &str| {
        rows.iter()
            .find(|r| r["explanationScoreTypeName"] == t)
            .unwrap()
    };
    let det = typed("eleuther_recall");
    assert_eq!(det["explanationId"], ex["id"]);
    assert_eq!(det["value"].as_f64(), Some(0.75));
    assert_eq!(det["explanationScoreModelName"], "judge-model");
    assert_eq!(det["createdAt"], "2025-11-24T16:00:00Z");
    let details: Value = serde_json::from_str(det["jsonDetails"].as_str().unwrap()).unwrap();
    assert_eq!(details["auc"].as_f64(), Some(0.9));
    assert_eq!(details["positives"], 12);
    assert_eq!(typed("eleuther_embedding")["value"].as_f64(), Some(0.625));
    assert!(rows
        .iter()
        .all(|r| r["explanationScoreTypeName"] != "eleuther_fuzz"));

    let json = tmp.path().join("d.json");
    let d = dashboard::export(&store_dir(), Some(&db), &[latent], &json).unwrap();
    let v = read_json(&json);
    validate(&v, &schema("dashboard.schema.json"), "$").unwrap();
    let methods: Vec<&str> = d.features[0]
        .method_scores
        .iter()
        .map(|m| m.method.as_str())
        .collect();
    assert_eq!(methods, ["detection", "fuzzing", "embedding"]);
    assert_eq!(
        v["features"][0]["method_scores"][0]["balanced_accuracy"],
        0.75
    );
    let html = tmp.path().join("d.html");
    dashboard::export(&store_dir(), Some(&db), &[latent], &html).unwrap();
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("detection balanced accuracy 0.750 (F1 0.65, AUC 0.90) by judge-model"),
        "{page}"
    );
}
