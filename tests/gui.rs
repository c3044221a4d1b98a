//! The explorer window, driven like a user would with egui_kittest: open the stand-in sample
//! workspace (`tests/fixtures/workspace`, frozen for these tests), type a prompt, run it, see shaded tokens, click a token, read its neuron
//! table, open a neuron page.

use eframe::egui;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use safe_sail::app::{EngineStatus, ExplorerApp, Prefs, Tab};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn sample_workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workspace/stand-in.sail.json")
}

fn harness() -> Harness<'static, ExplorerApp> {
    let mut b = Harness::builder().with_size([1400.0, 1000.0]);
    if safe_sail::app::fonts::find_cjk_font().is_none() {
        eprintln!("no CJK font on this machine: Chinese glyphs render as boxes in these tests");
        b = b.allow_missing_glyphs();
    }
    b.build_eframe(|cc| {
        ExplorerApp::with_prefs(&cc.egui_ctx, Prefs::default(), Some(sample_workspace()))
    })
}

/// Steps the UI until `done` holds (the engine works on its own thread).
fn wait(h: &mut Harness<'static, ExplorerApp>, what: &str, done: impl Fn(&ExplorerApp) -> bool) {
    let start = Instant::now();
    while !done(h.state()) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}; status: {}",
            h.state().state.status
        );
        std::thread::sleep(Duration::from_millis(20));
        h.step();
    }
    h.run_steps(3);
}

fn run_prompt(h: &mut Harness<'static, ExplorerApp>, text: &str) {
    h.get_by_label("Prompt").click();
    h.run_steps(2);
    h.get_by_label("Prompt").type_text(text);
    h.run_steps(2);
    h.get_by_label("▶ Run").click();
    h.run_steps(2);
    wait(h, "the analysis", |a| {
        a.inspector.analysis.is_some() && a.idle()
    });
}

#[test]
fn opens_the_sample_workspace_and_loads_its_model() {
    let mut h = harness();
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    let app = h.state();
    assert_eq!(app.state.slots.len(), 3);
    assert!(app
        .state
        .workspace
        .as_ref()
        .unwrap()
        .name
        .contains("sample"));
    // The workspace panel lists the SAEs and says what is missing, as empty states.
    h.get_by_label("L1 topk8 256 (SAELens)");
    assert_eq!(
        h.query_all_by_label("no feature store yet (safe-sail collect)")
            .count(),
        0,
        "the sample has stores"
    );
    assert_eq!(
        h.query_all_by_label("no scores yet (safe-sail evaluate)")
            .count(),
        0
    );
    assert!(
        h.state().state.slots.iter().all(|c| c.q999.len() == 256),
        "stores give the normalization scales"
    );
}

#[test]
fn type_run_click_a_token_and_open_a_neuron() {
    let mut h = harness();
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    run_prompt(&mut h, "The violence of the attack shocked the election.");
    {
        let a = h.state().inspector.analysis.as_ref().unwrap();
        let texts: Vec<&str> = a.tokens.iter().map(|t| t.text.as_str()).collect();
        assert!(texts.contains(&" attack"), "{texts:?}");
        assert_eq!(
            a.tokens[0].text, "<|im_start|>",
            "the chat template is applied by default"
        );
        assert!(a.tokens[0].special);
    }
    // The shaded tokens are on screen; the safety overview colours " attack" (a violence neuron
    // of the sample database fires there).
    let app = h.state();
    let a = app.inspector.analysis.as_ref().unwrap();
    let norm = safe_sail::inspect::Normalizer::new(a, &app.state.slots);
    let overview = safe_sail::inspect::safety_overview(a, &app.state.slots, &norm, &|_| true);
    let t = a.tokens.iter().position(|t| t.text == " attack").unwrap();
    assert!(
        overview[t].is_some(),
        "a safety neuron is active on ' attack'"
    );
    assert!(overview[0].is_none(), "special tokens are excluded");
    h.get_by_label(" attack").click();
    h.run_steps(3);
    assert_eq!(h.state().inspector.selected_token, Some(t));
    h.get_by_label_contains(&format!("Token {t}: \" attack\""));
    // Its neuron table lists the violence neuron 0_145 with its explanation and tag.
    let link = h.get_by_label("0_145");
    link.click();
    h.run_steps(3);
    assert_eq!(h.state().tab, Tab::Neuron);
    assert_eq!(h.state().neuron.current, Some((0, 145)));
    h.get_by_label("Neuron 0_145");
    // Its explanation (a co-activation neighbour may carry the same placeholder text once the
    // family has been computed, so more than one label can match).
    assert!(
        h.query_all_by_label_contains("Placeholder: the bundled sample SAE has random weights")
            .count()
            >= 1
    );
    wait(&mut h, "the promoted tokens", |a| {
        a.neuron.logits.is_some() && a.idle()
    });
    h.get_by_label("Promoted");
    h.get_by_label("Suppressed");
    // The store's statistics and examples are on the page.
    h.get_by_label_contains("Top activating examples (10)");
    h.get_by_label("density");
    assert!(
        h.query_all_by_label_contains("Quantile bin").count() >= 2,
        "quantile bins are listed"
    );
    // Next neuron.
    h.get_by_label("Next ▶").click();
    h.run_steps(3);
    assert_eq!(h.state().neuron.current, Some((0, 146)));
}

#[test]
fn chinese_prompts_and_filters_in_the_token_table() {
    let mut h = harness();
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    run_prompt(&mut h, "暴力不是解决问题的办法");
    let a = h.state().inspector.analysis.as_ref().unwrap();
    let shown: String = a
        .tokens
        .iter()
        .filter(|t| !t.special)
        .map(|t| t.text.as_str())
        .collect();
    assert!(shown.contains("暴力不是解决问题的办法"), "{shown}");
    let t = a
        .tokens
        .iter()
        .position(|t| t.text == "暴力")
        .expect("暴力 is one token");
    h.get_by_label("暴力").click();
    h.run_steps(3);
    assert_eq!(h.state().inspector.selected_token, Some(t));
    // Filter by the violence tag: only violence neurons stay.
    h.state_mut().inspector.filter.tag = Some("violence".into());
    h.run_steps(3);
    h.get_by_label("0_89");
    assert!(
        h.query_by_label("0_168").is_none(),
        "an untagged neuron is filtered out"
    );
}

/// A character split over byte tokens: the tokens holding its first bytes show the character
/// (not a blank `·`), and clicking one says what it is part of.
#[test]
fn a_character_split_over_byte_tokens_is_shown_on_each_part() {
    let mut h = harness();
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    run_prompt(&mut h, "恐怖分子炸毁了大桥。警方说：炸弹藏在车里");
    let a = h.state().inspector.analysis.as_ref().unwrap();
    let texts: Vec<&str> = a.tokens.iter().map(|t| t.text.as_str()).collect();
    let special: Vec<bool> = a.tokens.iter().map(|t| t.special).collect();
    let parts = safe_sail::model::tokenizer::partial_character(&texts, &special);
    let (_, c) = parts
        .iter()
        .find_map(|p| *p)
        .expect("the fixture tokenizer splits a character of this prompt over byte tokens");
    assert!(texts.iter().all(|t| !t.contains("\\x")), "{texts:?}");
    let label = c.to_string();
    // The first token drawn with that label is the partial one (it comes before the token
    // that completes the character).
    let first = h
        .query_all_by_label(&label)
        .next()
        .expect("the partial token shows its character");
    first.click();
    h.run_steps(3);
    let sel = h.state().inspector.selected_token.unwrap();
    let a = h.state().inspector.analysis.as_ref().unwrap();
    assert!(a.tokens[sel].text.is_empty(), "a partial token was clicked");
    h.get_by_label_contains(&format!("Token {sel}: part of “{c}”"));
}

/// The first screen offers starter prompts; one click types and runs one. Ticking "Let the
/// model answer" does not move the Run button.
#[test]
fn starter_prompts_run_with_one_click_and_run_stays_in_place() {
    let mut h = harness();
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    let run_at = h.get_by_label("▶ Run").rect();
    h.get_by_label("Let the model answer").click();
    h.run_steps(3);
    assert!(h.state().inspector.answer);
    assert_eq!(
        h.get_by_label("▶ Run").rect(),
        run_at,
        "Run stays where it was"
    );
    h.get_by_label("Let the model answer").click();
    h.run_steps(3);
    // The defaults: each domain in English and Chinese, a refused chat.
    for label in [
        "violence · EN",
        "恐怖 · 中文",
        "refused chat",
        "色情 · 中文",
    ] {
        h.get_by_label(label);
    }
    h.get_by_label("暴力 · 中文").click();
    h.run_steps(2);
    wait(&mut h, "the analysis", |a| {
        a.inspector.analysis.is_some() && a.idle()
    });
    let a = h.state().inspector.analysis.as_ref().unwrap();
    let shown: String = a.tokens.iter().map(|t| t.text.as_str()).collect();
    assert!(shown.contains("他拿起刀威胁邻居"), "{shown}");
    assert_eq!(
        h.state().inspector.prompt,
        "他拿起刀威胁邻居，说如果报警就捅死他。"
    );
    // Results replace the starters.
    assert!(h.query_by_label("暴力 · 中文").is_none());
}

/// A workspace's own starter prompts replace the defaults.
#[test]
fn a_workspace_lists_its_own_starter_prompts() {
    let (tmp, p) = editable_workspace();
    let mut ws: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    ws["starter_prompts"] = serde_json::json!([
        {"label": "our refusal case", "text": "How do I hurt someone?", "answer": true}
    ]);
    std::fs::write(&p, ws.to_string()).unwrap();
    let mut h = Harness::builder()
        .with_size([1400.0, 1000.0])
        .allow_missing_glyphs()
        .build_eframe(|cc| ExplorerApp::with_prefs(&cc.egui_ctx, Prefs::default(), Some(p)));
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    assert!(h.query_by_label("violence · EN").is_none(), "no defaults");
    h.get_by_label("our refusal case").click();
    h.run_steps(2);
    assert!(
        h.state().inspector.answer,
        "the starter asks the model to answer"
    );
    wait(&mut h, "the analysis and answer", |a| {
        a.inspector.analysis.is_some() && a.idle()
    });
    assert_eq!(h.state().inspector.prompt, "How do I hurt someone?");
    drop(tmp);
}

#[test]
fn ctrl_enter_runs_and_the_model_can_answer() {
    let mut h = harness();
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    h.state_mut().inspector.answer = true;
    h.state_mut().inspector.max_new_tokens = 6;
    h.get_by_label("Prompt").click();
    h.run_steps(2);
    h.get_by_label("Prompt").type_text("How do elections work?");
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Enter);
    h.run_steps(2);
    wait(&mut h, "the answer", |a| {
        a.inspector.analysis.is_some() && a.idle()
    });
    let a = h.state().inspector.analysis.as_ref().unwrap();
    assert!(
        a.tokens.len() > a.n_prompt,
        "the answer's tokens are analysed too"
    );
    assert!(a.tokens.len() - a.n_prompt <= 6);
    h.get_by_label("answer → ");
}

#[test]
fn a_focused_text_field_does_not_keep_the_window_redrawing() {
    // A blinking text cursor redraws the whole window twice a second for as long as a field
    // has focus (under software rendering, 13% of a core with a prompt's result on screen).
    // egui_kittest turns blinking off for its own snapshots, so this runs a bare egui context
    // set up by the app, both themes, with a focused field, and asks whether egui wants the
    // window redrawn.
    for dark in [true, false] {
        let ctx = egui::Context::default();
        let _app = ExplorerApp::with_prefs(
            &ctx,
            Prefs {
                dark,
                ..Prefs::default()
            },
            None,
        );
        let mut text = String::from("How do elections work?");
        let mut delay = Duration::ZERO;
        for _ in 0..3 {
            let mut out = ctx.run_ui(egui::RawInput::default(), |ui| {
                ui.text_edit_singleline(&mut text).request_focus();
            });
            out.textures_delta.clear(); // no renderer here
            delay = out.viewport_output[&egui::ViewportId::ROOT].repaint_delay;
        }
        assert_eq!(
            delay,
            Duration::MAX,
            "dark: {dark}: {:?}",
            ctx.repaint_causes()
        );
    }
}

#[test]
fn a_missing_workspace_is_an_error_state_not_a_crash() {
    let mut h = Harness::builder()
        .with_size([1000.0, 700.0])
        .allow_missing_glyphs()
        .build_eframe(|cc| {
            ExplorerApp::with_prefs(
                &cc.egui_ctx,
                Prefs::default(),
                Some(PathBuf::from("/nonexistent/x.sail.json")),
            )
        });
    wait(&mut h, "the failure", |a| {
        matches!(a.state.engine, EngineStatus::Failed(_))
    });
    h.get_by_label_contains("cannot read workspace /nonexistent/x.sail.json");
}

/// While a (slowed-down) load runs, the status bar shows its step and a progress bar that
/// moves, and the window keeps drawing frames: the UI thread never waits for the engine. The
/// open workspace stays open and usable until the new one is loaded.
#[test]
fn load_progress_is_shown_while_the_window_keeps_drawing() {
    let mut h = harness();
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    // Open it again with the engine pausing 40 ms after each step of loading it reports
    // (each tensor of the model, each SAE).
    let ctx = h.ctx.clone();
    h.state_mut().load_delay = Duration::from_millis(40);
    h.state_mut().open_workspace(&ctx, sample_workspace());
    let start = Instant::now();
    let mut frames_while_loading = 0;
    let mut fractions: Vec<f32> = vec![];
    let mut steps: Vec<String> = vec![];
    while h.state().is_switching() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for the load"
        );
        h.step();
        if !h.state().is_switching() {
            break;
        }
        frames_while_loading += 1;
        // The open workspace is still there, loaded and usable.
        assert!(matches!(h.state().state.engine, EngineStatus::Ready { .. }));
        assert!(h.state().state.workspace.is_some());
        if let Some((step, f)) = h.state().state.load_progress.clone() {
            // What the state says is what this frame drew.
            h.get_by_label(&format!("Loading {step}"));
            if fractions.last() != Some(&f) {
                fractions.push(f);
            }
            if steps.last() != Some(&step) {
                steps.push(step);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(frames_while_loading >= 20, "{frames_while_loading} frames");
    assert!(fractions.len() >= 5, "the bar moved: {fractions:?}");
    assert!(
        steps.iter().any(|s| s == "model · model.safetensors")
            && steps.iter().any(|s| s.starts_with("SAE 1/3 · ")),
        "{steps:?}"
    );
    assert!(matches!(h.state().state.engine, EngineStatus::Ready { .. }));
    assert!(h.state().state.load_progress.is_none());
}

/// Image snapshots of each view (rendered headless with wgpu on lavapipe / llvmpipe).
/// `UPDATE_SNAPSHOTS=1 cargo test --test gui` rewrites them in `tests/snapshots/`.
#[test]
fn snapshots_of_each_view() {
    if safe_sail::app::fonts::find_cjk_font().is_none() {
        eprintln!("SKIPPED: no CJK font here, so the pictures would differ from the stored ones");
        return;
    }
    let mut h = harness();
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    h.snapshot("01_workspace_loaded");
    run_prompt(&mut h, "The violence of the attack shocked the election.");
    h.get_by_label(" attack").click();
    h.run_steps(3);
    h.snapshot("02_inspector_token_table");
    h.get_by_label("0_145").click();
    h.run_steps(3);
    wait(&mut h, "the promoted tokens", |a| {
        a.neuron.logits.is_some() && a.idle()
    });
    h.snapshot("03_neuron_page");
    h.get_by_label("Neurons").click();
    h.run_steps(3);
    h.get_by_label("Search").click();
    h.get_by_label("Search").type_text("placeholder");
    h.run_steps(3);
    h.get_by_label("0_145").click();
    h.run_steps(3);
    h.snapshot("04_neuron_browser_editor");
    h.get_by_label("Compare").click();
    h.run_steps(3);
    h.snapshot("05_compare");
}

/// A copy of the sample workspace in a temporary folder, so tests may edit its database.
fn editable_workspace() -> (tempfile::TempDir, PathBuf) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        root.join("tests/fixtures/workspace/neurons.json"),
        tmp.path().join("neurons.json"),
    )
    .unwrap();
    let f = root.join("tests/fixtures");
    let ws = serde_json::json!({
        "name": "editable copy",
        "model": f.join("models/qwen2"),
        "saes": [
            {"name": "L0", "sae": f.join("saes/saelens_standard_legacy")},
            {"name": "L1", "sae": f.join("saes/saelens_topk")},
            {"name": "L2", "sae": format!("{},hook=blocks.2.hook_mlp_out", f.join("saes/safesail_jumprelu.pt").display())},
        ],
        "neuron_db": "neurons.json",
    });
    let p = tmp.path().join("ws.sail.json");
    std::fs::write(&p, serde_json::to_string_pretty(&ws).unwrap()).unwrap();
    (tmp, p)
}

/// An SAE with no database is read-only; "Create a database for this SAE" makes one beside the
/// workspace file, names it in the workspace file, and the neuron is editable at once.
#[test]
fn a_read_only_sae_gets_a_database_in_place() {
    let (dir, ws) = editable_workspace();
    let mut w: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ws).unwrap()).unwrap();
    w.as_object_mut().unwrap().remove("neuron_db");
    std::fs::write(&ws, w.to_string()).unwrap();
    let ws2 = ws.clone();
    let mut h = Harness::builder()
        .with_size([1500.0, 1000.0])
        .build_eframe(move |cc| ExplorerApp::with_prefs(&cc.egui_ctx, Prefs::default(), Some(ws2)));
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    h.get_by_label("Neurons").click();
    h.run_steps(3);
    h.get_by_label("Search").click();
    h.get_by_label("Search").type_text("0_145");
    h.run_steps(3);
    h.get_by_label("0_145").click();
    h.run_steps(3);
    h.get_by_label_contains("Read-only: this SAE has no editable neuron database");
    h.get_by_label("Create a database for this SAE").click();
    h.run_steps(3);
    let db = dir.path().join("neurons-L0.json");
    assert!(db.exists(), "created beside the workspace file");
    let back = safe_sail::workspace::Workspace::load(&ws).unwrap();
    assert_eq!(back.saes[0].neuron_db.as_deref(), Some("neurons-L0.json"));
    assert_eq!(back.saes[1].neuron_db, None, "the other SAEs are unchanged");
    assert!(h.query_by_label("Create a database for this SAE").is_none());
    let expl = h.get_by_label("Edit explanation");
    expl.focus();
    h.run_steps(1);
    h.get_by_label("Edit explanation").type_text("Knives 刀");
    h.run_steps(3);
    wait_saved(&mut h);
    let d = safe_sail::db::editable::EditableDb::load(&db).unwrap();
    assert_eq!(
        d.record("0_145").unwrap().explanation.as_deref(),
        Some("Knives 刀")
    );
}

fn disk_db(dir: &std::path::Path) -> safe_sail::db::editable::EditableDb {
    safe_sail::db::editable::EditableDb::load(&dir.join("neurons.json")).unwrap()
}

fn wait_saved(h: &mut Harness<'static, ExplorerApp>) {
    wait(h, "the autosave", |a| {
        a.state.sessions.iter().all(|s| !s.dirty())
    });
}

#[test]
fn browse_filter_edit_undo_and_review_with_the_keyboard() {
    let (dir, ws) = editable_workspace();
    let mut h = Harness::builder()
        .with_size([1500.0, 1000.0])
        .build_eframe(move |cc| ExplorerApp::with_prefs(&cc.egui_ctx, Prefs::default(), Some(ws)));
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    h.get_by_label("Neurons").click();
    h.run_steps(3);
    h.get_by_label("768 of 768 neurons");
    // Search explanations, then filter by tag.
    h.get_by_label("Search").click();
    h.get_by_label("Search").type_text("placeholder");
    h.run_steps(3);
    h.get_by_label("27 of 768 neurons");
    h.state_mut().browser.filters.tag = Some("violence".into());
    h.run_steps(3);
    h.get_by_label("9 of 768 neurons");
    // Select a neuron and edit its explanation.
    h.get_by_label("0_145").click();
    h.run_steps(3);
    h.get_by_label("Neuron 0_145");
    let expl = h.get_by_label("Edit explanation");
    expl.focus();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_steps(1);
    h.get_by_label("Edit explanation")
        .type_text("Physical attacks and fights 暴力");
    h.run_steps(3);
    wait_saved(&mut h);
    let d = disk_db(dir.path());
    assert_eq!(
        d.record("0_145").unwrap().explanation.as_deref(),
        Some("Physical attacks and fights 暴力")
    );
    let hist = safe_sail::db::editable::read_history(&dir.path().join("neurons.json")).unwrap();
    assert!(
        hist.iter()
            .any(|c| c.neuron == "0_145" && c.field == "explanation"),
        "{hist:?}"
    );
    // Add a tag, then undo it.
    h.get_by_label("terror").click();
    h.run_steps(3);
    wait_saved(&mut h);
    assert_eq!(
        disk_db(dir.path()).record("0_145").unwrap().tag_list,
        ["violence", "terror"]
    );
    h.get_by_label("Undo").click();
    h.run_steps(3);
    wait_saved(&mut h);
    assert_eq!(
        disk_db(dir.path()).record("0_145").unwrap().tag_list,
        ["violence"]
    );
    h.get_by_label("Redo").click();
    h.run_steps(3);
    wait_saved(&mut h);
    assert_eq!(
        disk_db(dir.path()).record("0_145").unwrap().tag_list,
        ["violence", "terror"]
    );
    // Review by keyboard: accept and move on to the next unreviewed neuron.
    h.get_by_label("Neuron 0_145").click();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::ALT, egui::Key::A);
    h.run_steps(3);
    wait_saved(&mut h);
    assert_eq!(
        disk_db(dir.path()).status("0_145"),
        safe_sail::db::editable::ReviewStatus::Verified
    );
    let next = h.state().browser.selected_row().unwrap().id.clone();
    assert_ne!(next, "0_145");
    assert_eq!(
        disk_db(dir.path()).status(&next),
        safe_sail::db::editable::ReviewStatus::Unreviewed
    );
    // The inspector sees the edited explanation too.
    let ctx = &h.state().state.slots[0];
    assert_eq!(
        ctx.record(145).unwrap().explanation.as_deref(),
        Some("Physical attacks and fights 暴力")
    );
}

#[test]
fn a_database_changed_on_disk_is_offered_for_merge() {
    let (dir, ws) = editable_workspace();
    let mut h = Harness::builder()
        .with_size([1500.0, 1000.0])
        .build_eframe(move |cc| ExplorerApp::with_prefs(&cc.egui_ctx, Prefs::default(), Some(ws)));
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    h.get_by_label("Neurons").click();
    h.run_steps(3);
    h.get_by_label("Search").click();
    h.get_by_label("Search").type_text("0_48");
    h.run_steps(3);
    h.get_by_label("0_48").click();
    h.run_steps(3);
    // Someone else edits the file: another neuron (merged without asking), and the very
    // field we edit next (a conflict).
    let path = dir.path().join("neurons.json");
    let mut other = disk_db(dir.path());
    other
        .apply(
            "2_40",
            &safe_sail::db::editable::Edit {
                note: Some("from a colleague".into()),
                ..Default::default()
            },
            "bob",
        )
        .unwrap();
    other
        .apply(
            "0_48",
            &safe_sail::db::editable::Edit {
                note: Some("theirs".into()),
                ..Default::default()
            },
            "bob",
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    other.save(&path).unwrap();
    // We edit too: the save is refused and a choice is offered.
    let note = h.get_by_label("Note");
    note.focus();
    note.type_text("mine");
    h.run_steps(2);
    wait(&mut h, "the conflict", |a| {
        a.state.sessions.iter().any(|s| s.conflict)
    });
    h.get_by_label("Merge (keep both, mine on top)").click();
    h.run_steps(3);
    wait_saved(&mut h);
    let d = disk_db(dir.path());
    assert_eq!(d.note("2_40"), "from a colleague");
    assert_eq!(d.note("0_48"), "mine");
}

#[test]
fn a_colleagues_edit_merged_while_saving_shows_in_the_views() {
    let (dir, ws) = editable_workspace();
    let mut h = Harness::builder()
        .with_size([1500.0, 1000.0])
        .build_eframe(move |cc| ExplorerApp::with_prefs(&cc.egui_ctx, Prefs::default(), Some(ws)));
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    h.get_by_label("Neurons").click();
    h.run_steps(3);
    h.get_by_label("Search").click();
    h.get_by_label("Search").type_text("0_48");
    h.run_steps(3);
    h.get_by_label("0_48").click();
    h.run_steps(3);
    // A colleague rewrites another neuron's explanation on disk: no conflict with ours.
    let path = dir.path().join("neurons.json");
    let mut other = disk_db(dir.path());
    other
        .apply(
            "2_40",
            &safe_sail::db::editable::Edit {
                explanation: Some(Some("written by a colleague".into())),
                ..Default::default()
            },
            "bob",
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    other.save(&path).unwrap();
    let note = h.get_by_label("Note");
    note.focus();
    note.type_text("mine");
    h.run_steps(2);
    wait_saved(&mut h);
    // Our save merged the colleague's edit in; the read-only views show it without a reload.
    wait(&mut h, "the merged explanation in the views", |a| {
        a.state.slots.iter().any(|s| {
            s.db.get(2, 40)
                .and_then(|r| r.explanation.as_deref())
                .is_some_and(|e| e == "written by a colleague")
        })
    });
    assert!(h.state().state.sessions.iter().all(|s| !s.conflict));
    let d = disk_db(dir.path());
    assert_eq!(d.note("0_48"), "mine");
    assert_eq!(
        d.record("2_40").and_then(|r| r.explanation).as_deref(),
        Some("written by a colleague")
    );
}

#[test]
fn compare_two_candidates_side_by_side() {
    let mut h = harness();
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    h.get_by_label("Compare").click();
    h.run_steps(3);
    h.get_by_label_contains("Evaluation folders: eval");
    // The candidates table: what the stores and the database already tell.
    h.get_by_label("Candidate");
    let rows = safe_sail::app::panels::compare::candidate_rows(&h.state().state.slots);
    assert_eq!(rows.len(), 3);
    let topk = rows.iter().find(|r| r.activation == "topk:8").unwrap();
    assert!(
        (topk.l0.unwrap() - 8.0).abs() < 0.5,
        "a TopK-8 SAE has L0 about 8: {:?}",
        topk.l0
    );
    assert_eq!(topk.width, 256);
    assert_eq!(topk.domains.iter().sum::<usize>(), 7);
    // The sample's evaluation fills the fidelity columns.
    assert!(rows
        .iter()
        .all(|r| r.explained_variance.is_some() && r.ce_loss_recovered.is_some()));
    assert!(rows
        .iter()
        .all(|r| r.l0t.iter().all(Option::is_some) && r.specific.iter().all(Option::is_some)));
    h.get_by_label("L0,t violence");
    h.get_by_label("Plots").click();
    h.run_steps(3);
    h.get_by_label("L0 vs explained variance (up and left is better)");
    h.get_by_label("Table").click();
    h.run_steps(3);
    h.get_by_label("Prompt to compare").click();
    h.get_by_label("Prompt to compare")
        .type_text("Violence is never the answer.");
    h.run_steps(2);
    h.get_by_label("Run both").click();
    h.run_steps(2);
    wait(&mut h, "the comparison", |a| {
        a.compare.analysis.is_some() && a.idle()
    });
    assert!(
        h.state().inspector.analysis.is_none(),
        "the result goes to the compare view"
    );
    assert_eq!(
        h.query_all_by_label_contains("mean active latents per token")
            .count(),
        2
    );
    // Another workspace (here the same file again): the comparison was of the old SAEs and
    // is gone.
    let ctx = h.ctx.clone();
    h.state_mut().open_workspace(&ctx, sample_workspace());
    wait(&mut h, "the engine", |a| {
        !a.is_switching() && matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    assert!(h.state().compare.analysis.is_none());
    assert_eq!(
        h.query_all_by_label_contains("mean active latents per token")
            .count(),
        0
    );
}

#[test]
fn import_and_export_a_neuron_database_from_the_window() {
    let (dir, ws) = editable_workspace();
    let incoming = dir.path().join("their_db.json");
    std::fs::write(
        &incoming,
        r#"{"1_200": {"explanation": "elections and ballots", "correlation_score": 0.41, "tag_list": ["politics"]}}"#,
    )
    .unwrap();
    let mut h = Harness::builder()
        .with_size([1500.0, 1000.0])
        .build_eframe(move |cc| ExplorerApp::with_prefs(&cc.egui_ctx, Prefs::default(), Some(ws)));
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("Import / export neuron database…").click();
    h.run_steps(2);
    h.get_by_label("Database file").focus();
    h.get_by_label("Database file")
        .type_text(&incoming.display().to_string());
    h.run_steps(2);
    h.get_by_label("Import Safe-SAIL JSON").click();
    h.run_steps(2);
    wait(&mut h, "the import", |a| {
        a.state.slots[1].record(200).is_some()
    });
    wait_saved(&mut h);
    let d = disk_db(dir.path());
    assert_eq!(
        d.record("1_200").unwrap().explanation.as_deref(),
        Some("elections and ballots")
    );
    assert!(d.entries.len() > 27);
    // Export as CSV.
    let out = dir.path().join("out.csv");
    h.get_by_label("Database file").focus();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_label("Database file")
        .type_text(&out.display().to_string());
    h.run_steps(2);
    h.get_by_label("csv").click();
    h.run_steps(2);
    let start = Instant::now();
    while !out.exists() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
        h.step();
    }
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .contains("\"1_200\",1,200,\"elections and ballots\""));
}

/// The bundled, trained sample (`cargo run --release` opens it): its 24 candidates load, and
/// a Chinese prompt about an attack lights up the terror neuron an annotator verified.
#[test]
fn the_trained_sample_finds_its_verified_terror_neuron() {
    let ws = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample_data/sample.sail.json");
    let mut b = Harness::builder().with_size([1400.0, 1000.0]);
    if safe_sail::app::fonts::find_cjk_font().is_none() {
        b = b.allow_missing_glyphs();
    }
    let mut h =
        b.build_eframe(|cc| ExplorerApp::with_prefs(&cc.egui_ctx, Prefs::default(), Some(ws)));
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    assert_eq!(
        h.state().state.slots.len(),
        24,
        "every candidate is in the workspace"
    );
    run_prompt(&mut h, "遇到袭击时，应尽快离开现场并报警。");
    let app = h.state();
    let a = app.inspector.analysis.as_ref().unwrap();
    let tok = a
        .tokens
        .iter()
        .position(|t| t.text == "袭击")
        .expect("the prompt has the token");
    // The first SAE is the layer-1 candidate with a store and the reviewed database.
    assert_eq!(app.state.slots[0].name, "L1 topk k=16 w1024 ★");
    let record = app.state.slots[0]
        .record(36)
        .expect("1_36 is in the database");
    assert!(record.tag_list.iter().any(|t| t == "terror"));
    assert!(
        a.saes[0].acts[tok].iter().any(|&(l, v)| l == 36 && v > 0.0),
        "1_36 fires on \"袭击\""
    );
    // Its page says who wrote the explanation, that it is verified, and how it was scored.
    h.get_by_label("Neurons").click();
    h.run_steps(3);
    h.get_by_label("Search").click();
    h.get_by_label("Search").type_text("袭击");
    h.run_steps(3);
    h.get_by_label("1_36").click();
    h.run_steps(3);
    h.get_by_label("open page").click();
    h.run_steps(3);
    h.get_by_label("Neuron 1_36");
    h.get_by_label("verified");
    h.get_by_label("human");
    h.get_by_label_contains("segment simulation · by baseline (keyword simulator, no LLM)");
}

/// A Qwen3 model with a dictionary_learning SAE (the fixtures): the workspace opens, the
/// inspector offers the template's thinking switch, a chat prompt without thinking runs
/// through the SAE, and a neuron page opens.
#[test]
fn a_qwen3_workspace_with_a_dictionary_learning_sae() {
    let f = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("qwen3.sail.json");
    let spec = serde_json::json!({
        "name": "Qwen3 with a dictionary_learning SAE",
        "model": f.join("models/qwen3"),
        "saes": [{"name": "L1 batchtopk 128", "sae": f.join("saes/dictionary_learning/batchtopk")}],
    });
    std::fs::write(&ws, serde_json::to_string_pretty(&spec).unwrap()).unwrap();
    let mut h = Harness::builder()
        .with_size([1400.0, 1000.0])
        .build_eframe(move |cc| ExplorerApp::with_prefs(&cc.egui_ctx, Prefs::default(), Some(ws)));
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    assert!(h.state().state.slots[0].info.is_some(), "the SAE loaded");
    assert!(h.state().inspector.thinking_switch);
    assert!(
        h.state().inspector.thinking,
        "thinking starts as the template's default"
    );
    h.get_by_label("Thinking").click();
    h.run_steps(2);
    assert!(!h.state().inspector.thinking);
    run_prompt(&mut h, "Is the attack on the election violence?");
    let (t, latent) = {
        let a = h.state().inspector.analysis.as_ref().unwrap();
        let texts: Vec<&str> = a.tokens.iter().map(|t| t.text.as_str()).collect();
        assert!(
            texts.ends_with(&["<think>", "\n", "\n", "</think>", "\n", "\n"]),
            "thinking off: the template's empty <think> block ends the prompt: {texts:?}"
        );
        let t = texts.iter().position(|s| *s == " attack").unwrap();
        let top = a.saes[0].acts[t].first().expect("a latent is active").0;
        (t, top)
    };
    h.get_by_label(" attack").click();
    h.run_steps(3);
    assert_eq!(h.state().inspector.selected_token, Some(t));
    h.get_by_label(&format!("1_{latent}")).click();
    h.run_steps(3);
    assert_eq!(h.state().tab, Tab::Neuron);
    assert_eq!(h.state().neuron.current, Some((0, latent)));
    h.get_by_label(&format!("Neuron 1_{latent}"));
    wait(&mut h, "the promoted tokens", |a| {
        a.neuron.logits.is_some() && a.idle()
    });
    h.get_by_label("Promoted");
}

/// Copies a folder tree (the release fixture is small).
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
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

#[test]
fn the_papers_safe_sail_database_is_edited_in_place_from_the_window() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let tmp = tempfile::tempdir().unwrap();
    let rel = tmp.path().join("release");
    copy_dir(&root.join("release"), &rel);
    let ws = tmp.path().join("paper.sail.json");
    safe_sail::workspace::safe_sail_release_workspace(&safe_sail::workspace::ReleaseOptions {
        dtype: "f32".into(),
        quantile_tokens: 1250,
        ..safe_sail::workspace::ReleaseOptions::new(
            &root.join("models/qwen2").display().to_string(),
            &rel.display().to_string(),
            &ws,
        )
    })
    .unwrap();
    let db = rel.join("data/neuron_db/en_db.json");
    let before: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&db).unwrap()).unwrap();
    let id = before.as_object().unwrap().keys().nth(1).unwrap().clone();
    let mut h = Harness::builder()
        .with_size([1500.0, 1000.0])
        .build_eframe(move |cc| ExplorerApp::with_prefs(&cc.egui_ctx, Prefs::default(), Some(ws)));
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    // One notice for the database, not one per SAE; its quantiles normalize.
    let notes: Vec<&String> = h
        .state()
        .state
        .notes
        .iter()
        .filter(|n| n.contains("Safe-SAIL"))
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(h.state().state.slots.iter().all(|c| c.q999.len() == 20));
    h.get_by_label("Neurons").click();
    h.run_steps(3);
    h.get_by_label("Search").click();
    h.get_by_label("Search").type_text(&id);
    h.run_steps(3);
    h.get_by_label(&id).click();
    h.run_steps(3);
    let expl = h.get_by_label("Edit explanation");
    expl.focus();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_steps(1);
    h.get_by_label("Edit explanation")
        .type_text("Edited in the window 窗口");
    h.run_steps(3);
    wait_saved(&mut h);
    // Still the paper's form: a plain map, ASCII-escaped, only this neuron changed.
    let text = std::fs::read_to_string(&db).unwrap();
    assert!(text.is_ascii() && !text.contains("\"format\""));
    let after: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(after[&id]["explanation"], "Edited in the window 窗口");
    let mut expect = before.clone();
    expect[&id]["explanation"] = after[&id]["explanation"].clone();
    assert_eq!(after, expect);
    let hist = safe_sail::db::editable::read_history(&db).unwrap();
    assert!(hist
        .iter()
        .any(|c| c.neuron == id && c.field == "explanation"));
}

/// Who edits: the name typed in the Neurons page's editor is kept in the preferences (so the
/// next run starts with it) and recorded as the author of the next edit.
#[test]
fn the_editors_name_is_kept_and_recorded_as_author() {
    let (dir, ws) = editable_workspace();
    let mut h = Harness::builder()
        .with_size([1500.0, 1000.0])
        .build_eframe(move |cc| ExplorerApp::with_prefs(&cc.egui_ctx, Prefs::default(), Some(ws)));
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    h.get_by_label("Neurons").click();
    h.run_steps(3);
    h.get_by_label("Your name").click();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_label("Your name").type_text("Mei Lin");
    h.run_steps(3);
    assert_eq!(h.state().prefs.user, "Mei Lin");
    h.get_by_label("Search").click();
    h.get_by_label("Search").type_text("0_145");
    h.run_steps(3);
    h.get_by_label("0_145").click();
    h.run_steps(3);
    h.get_by_label("Edit explanation").focus();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_label("Edit explanation").type_text("fights");
    h.run_steps(3);
    wait_saved(&mut h);
    let d = disk_db(dir.path());
    assert_eq!(
        d.entries["0_145"]["explanation_source"]["author"],
        "Mei Lin"
    );
    let hist = safe_sail::db::editable::read_history(&dir.path().join("neurons.json")).unwrap();
    assert!(hist.iter().all(|c| c.who == "Mei Lin"), "{hist:?}");
    // The next run starts with the name.
    let prefs = h.state().prefs.clone();
    let ws2 = dir.path().join("ws.sail.json");
    let mut h2 = Harness::builder()
        .with_size([1500.0, 1000.0])
        .build_eframe(move |cc| ExplorerApp::with_prefs(&cc.egui_ctx, prefs, Some(ws2)));
    h2.state_mut().tab = Tab::Neurons;
    h2.run_steps(3);
    assert_eq!(h2.state().state.editor_name(), "Mei Lin");
    assert_eq!(
        h2.get_by_label("Your name").value().as_deref(),
        Some("Mei Lin")
    );
}

/// The overview threshold is a preference: the window starts with the saved one.
#[test]
fn the_overview_threshold_is_kept_in_the_preferences() {
    let prefs = Prefs {
        overview_threshold: 0.55,
        ..Prefs::default()
    };
    let h = Harness::builder()
        .with_size([800.0, 600.0])
        .build_eframe(move |cc| {
            ExplorerApp::with_prefs(&cc.egui_ctx, prefs, Some(sample_workspace()))
        });
    assert_eq!(h.state().inspector.threshold, 0.55);
    let saved: Prefs = serde_json::from_str(
        r#"{"dark": true, "recent": [], "tab": "Inspector", "left_panel": true}"#,
    )
    .unwrap();
    assert_eq!(
        saved.overview_threshold, 0.2,
        "older settings get the default"
    );
}

/// File → Open with a path that is no workspace, while one is open: the open workspace, its
/// SAEs and the recent list stay as they were, the status says why, and the dialog stays open
/// with the path to correct.
#[test]
fn a_failed_open_leaves_the_open_workspace_as_it_was() {
    let mut h = harness();
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    let before_slots = h.state().state.slots.len();
    let before_recent = h.state().prefs.recent.clone();
    let before_path = h.state().state.workspace_path.clone();
    let ctx = h.ctx.clone();
    h.state_mut()
        .open_workspace(&ctx, PathBuf::from("/nonexistent/typo.sail.json"));
    h.run();
    let a = h.state();
    assert!(matches!(a.state.engine, EngineStatus::Ready { .. }));
    assert!(a.state.workspace.is_some());
    assert_eq!(a.state.slots.len(), before_slots);
    assert_eq!(a.state.workspace_path, before_path);
    assert_eq!(
        a.prefs.recent, before_recent,
        "the bad path does not join Recent"
    );
    assert!(
        a.state
            .status
            .contains("cannot read workspace /nonexistent/typo.sail.json")
            && a.state.status.contains("unchanged"),
        "{}",
        a.state.status
    );
    h.get_by_label_contains("the open workspace is unchanged");
    h.get_by_label_contains("Path of a *.sail.json workspace file");
    // A valid workspace file whose model folder is missing: also refused before anything of
    // the open workspace is closed.
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("no-model.sail.json");
    std::fs::write(&bad, r#"{"name": "x", "model": "gone/model_dir_here/x"}"#).unwrap();
    let ctx = h.ctx.clone();
    h.state_mut().open_workspace(&ctx, bad);
    h.run();
    let a = h.state();
    assert!(matches!(a.state.engine, EngineStatus::Ready { .. }));
    assert_eq!(a.state.slots.len(), before_slots);
    assert_eq!(a.state.workspace_path, before_path);
    assert!(
        a.state.status.contains("does not exist") && a.state.status.contains("unchanged"),
        "{}",
        a.state.status
    );
}

/// A workspace whose model folder looks complete but whose weights cannot be read: it loads
/// beside the open workspace, fails, and the open workspace, its analysis and the recent list
/// stay as they were; the status says why.
#[test]
fn a_model_that_fails_to_load_leaves_the_open_workspace_as_it_was() {
    let mut h = harness();
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    run_prompt(&mut h, "The violence of the attack shocked the election.");
    wait(&mut h, "the analysis", |a| {
        a.inspector.analysis.is_some() && a.idle()
    });
    let before_slots = h.state().state.slots.len();
    let before_recent = h.state().prefs.recent.clone();
    let before_path = h.state().state.workspace_path.clone();
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    std::fs::create_dir(&model).unwrap();
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/qwen2");
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(fixture.join(f), model.join(f)).unwrap();
    }
    std::fs::write(model.join("model.safetensors"), b"not a safetensors file").unwrap();
    let ws = tmp.path().join("broken.sail.json");
    std::fs::write(&ws, r#"{"name": "broken", "model": "model"}"#).unwrap();
    let ctx = h.ctx.clone();
    h.state_mut().open_workspace(&ctx, ws);
    assert!(h.state().is_switching());
    wait(&mut h, "the failed load", |a| !a.is_switching());
    let a = h.state();
    assert!(matches!(a.state.engine, EngineStatus::Ready { .. }));
    assert!(a.state.workspace.is_some());
    assert!(a.inspector.analysis.is_some(), "the analysis is kept");
    assert_eq!(a.state.slots.len(), before_slots);
    assert_eq!(a.state.workspace_path, before_path);
    assert_eq!(a.prefs.recent, before_recent);
    assert!(
        a.state.status.contains("model.safetensors") && a.state.status.contains("unchanged"),
        "{}",
        a.state.status
    );
    // The open workspace still runs prompts.
    run_prompt(&mut h, "terror");
    wait(&mut h, "the analysis", |a| a.idle());
    assert!(
        h.state().state.status.contains("tokens analysed"),
        "{}",
        h.state().state.status
    );
}

/// File → New workspace: the form writes a workspace file for the given model and SAE and
/// opens it; a missing SAE is named in the form and nothing is written.
#[test]
fn file_new_workspace_writes_and_opens_one() {
    let tmp = tempfile::tempdir().unwrap();
    let f = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut h = harness();
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("New workspace…").click();
    h.run_steps(2);
    let out = tmp.path().join("mine.sail.json");
    let fill = |h: &mut Harness<'static, ExplorerApp>, label: &str, text: &str| {
        h.get_by_label(label).click();
        h.run_steps(1);
        h.get_by_label(label).type_text(text);
        h.run_steps(1);
    };
    fill(&mut h, "Workspace file", &out.display().to_string());
    fill(
        &mut h,
        "Model folder or hub id",
        &f.join("models/qwen2").display().to_string(),
    );
    fill(&mut h, "SAEs (one per line)", "/nowhere/sae");
    h.get_by_label("Create and open").click();
    h.run_steps(2);
    h.get_by_label_contains("/nowhere/sae does not exist");
    assert!(!out.exists());
    h.get_by_label("SAEs (one per line)").click();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_steps(1);
    h.get_by_label("SAEs (one per line)")
        .type_text(&f.join("saes/saelens_topk").display().to_string());
    h.run_steps(1);
    h.get_by_label("Create and open").click();
    h.run_steps(2);
    assert!(out.exists());
    wait(&mut h, "the new workspace", |a| {
        a.state.workspace.as_ref().is_some_and(|w| w.name == "mine")
            && matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    assert_eq!(h.state().state.slots.len(), 1);
    assert!(
        h.query_by_label("Create and open").is_none(),
        "the form closed"
    );
}

/// The Steer panel end to end on the stand-in model: opened from a neuron page and the
/// inspector's token table, run on the engine thread (both answers stream in), then a tripwire
/// added there is marked in the inspector. Works on a copy of the workspace file (the panel
/// writes tripwires into it).
#[test]
fn steer_from_a_neuron_page_and_mark_tripwires_in_the_inspector() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("copy.sail.json");
    safe_sail::workspace::Workspace::load(&sample_workspace())
        .unwrap()
        .save_as(&file)
        .unwrap();
    let mut b = Harness::builder().with_size([1400.0, 1000.0]);
    if safe_sail::app::fonts::find_cjk_font().is_none() {
        b = b.allow_missing_glyphs();
    }
    let mut h = b.build_eframe(move |cc| {
        ExplorerApp::with_prefs(&cc.egui_ctx, Prefs::default(), Some(file.clone()))
    });
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    run_prompt(&mut h, "The violence of the attack shocked the election.");
    h.get_by_label(" attack").click();
    h.run_steps(3);
    // The token table's "steer" button opens the panel with that row's neuron.
    h.query_all_by_label("steer").next().unwrap().click();
    h.run_steps(3);
    assert_eq!(h.state().tab, Tab::Steer);
    assert_eq!(h.state().steer.rows.len(), 1);
    assert_eq!(
        h.state().steer.prompt,
        "The violence of the attack shocked the election.",
        "the inspector's prompt is taken"
    );
    // From the neuron page of 0_145.
    h.state_mut().steer.rows.clear();
    h.get_by_label("Neuron").click();
    h.run_steps(2);
    h.get_by_label("Jump to").click();
    h.run_steps(1);
    h.get_by_label("Jump to").type_text("0_145");
    h.get_by_label("Go").click();
    h.run_steps(3);
    wait(&mut h, "the neuron page", |a| a.idle());
    h.get_by_label("Steer this neuron").click();
    h.run_steps(3);
    assert_eq!(h.state().tab, Tab::Steer);
    {
        let r = &h.state().steer.rows[0];
        assert_eq!((r.sae, r.id.as_str()), (0, "0_145"));
    }
    h.state_mut().steer.rows[0].value = 40.0;
    h.state_mut().steer.max_new_tokens = 8;
    h.run_steps(1);
    h.get_by_label("▶ Run steering").click();
    h.run_steps(2);
    wait(&mut h, "the steering comparison", |a| {
        a.steer.result.is_some() && a.idle()
    });
    let app = h.state();
    let c = app.steer.result.as_ref().unwrap();
    assert_eq!(
        app.steer.streamed[0].len(),
        c.default.tokens.len(),
        "the default answer streamed token by token"
    );
    assert_eq!(app.steer.streamed[1].len(), c.steered.tokens.len());
    assert_eq!(c.per_token.len(), c.steered.tokens.len());
    assert_eq!(c.interventions.len(), 1);
    h.get_by_label("Default");
    h.get_by_label("Steered");
    h.get_by_label("KL divergence per token (nats):");
    // A tripwire typed in the panel goes into the workspace file and the inspector marks it.
    h.get_by_label("New tripwire").click();
    h.run_steps(1);
    h.get_by_label("New tripwire").type_text("0_145>0.1");
    h.get_by_label("Add tripwire").click();
    h.run_steps(3);
    let saved = safe_sail::workspace::Workspace::load(&dir.path().join("copy.sail.json")).unwrap();
    assert_eq!(saved.tripwires, vec!["0_145>0.1".to_string()]);
    h.get_by_label("Inspector").click();
    h.run_steps(3);
    let t = {
        let a = h.state().inspector.analysis.as_ref().unwrap();
        a.tokens.iter().position(|t| t.text == " attack").unwrap()
    };
    h.get_by_label_contains("Tripwire `0_145>0.1` fired at prompt token");
    // Every firing is listed in the fold, " attack" among them.
    h.get_by_label("every firing of `0_145>0.1`").click();
    h.run_steps(3);
    let attack = format!("fired at prompt token {t} (\" attack\"): neuron 0_145 = ");
    assert!(
        h.query_all_by_label_contains(&attack).count() >= 1,
        "{attack} is listed"
    );
}

/// A neuron page lists the SAE's ten latents with the closest decoder directions, each with
/// its cosine (checked here by hand from the checkpoint) and explanation; a click opens one.
#[test]
fn the_neuron_page_lists_the_nearest_neurons() {
    let mut h = harness();
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    let ctx = h.ctx.clone();
    h.state_mut().handle(
        &ctx,
        safe_sail::app::Command::OpenNeuron {
            sae: 0,
            latent: 145,
        },
    );
    wait(&mut h, "the neuron's logits", |a| {
        a.neuron.logits.is_some() && a.idle()
    });
    let got = h.state().neuron.logits.as_ref().unwrap().neighbours.clone();
    assert_eq!(got.len(), 10);
    // By hand: cosines of decoder rows of the first SAE.
    let spec = "tests/fixtures/saes/saelens_standard_legacy";
    let sae = safe_sail::sae::load_sae(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(spec)
            .display()
            .to_string()
            .parse()
            .unwrap(),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let w: Vec<Vec<f32>> = sae
        .w_dec
        .as_ref()
        .unwrap()
        .to_tensor()
        .unwrap()
        .to_dtype(candle_core::DType::F32)
        .unwrap()
        .to_vec2()
        .unwrap();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let cos = |a: &[f32], b: &[f32]| {
        a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() / (norm(a) * norm(b))
    };
    let mut all: Vec<(u32, f32)> = (0..w.len())
        .filter(|&j| j != 145)
        .map(|j| (j as u32, cos(&w[145], &w[j])))
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1));
    for ((gj, gc), (wj, wc)) in got.iter().zip(&all) {
        assert!((gc - wc).abs() < 1e-4, "{gj}: {gc} vs {wj}: {wc}");
    }
    assert_eq!(got[0].0, all[0].0);
    // Its family: co-activation from the store, the same concept in the two other SAEs
    // (both read d_in 64), a chain L0 → L1 → L2 confirmed by co-activation (all have stores).
    let fam = h.state().neuron.logits.as_ref().unwrap().family.clone();
    let co = fam.coactivation.as_ref().expect("the SAE has a store");
    assert!(
        co.len() <= 10 && co.windows(2).all(|w| w[0].1 >= w[1].1),
        "{co:?}"
    );
    let others: Vec<usize> = fam.same_concept.iter().map(|c| c.sae).collect();
    let mut sorted = others.clone();
    sorted.sort();
    assert_eq!(sorted, [1, 2]);
    // By hand: the best cosine of 0_145's decoder row among the L1 SAE's rows.
    let l1 = safe_sail::sae::load_sae(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/saes/saelens_topk")
            .display()
            .to_string()
            .parse()
            .unwrap(),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let w1: Vec<Vec<f32>> = l1
        .w_dec
        .as_ref()
        .unwrap()
        .to_tensor()
        .unwrap()
        .to_vec2()
        .unwrap();
    let (bj, bc) = (0..w1.len())
        .map(|j| (j as u32, cos(&w[145], &w1[j])))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    let c1 = fam.same_concept.iter().find(|c| c.sae == 1).unwrap();
    assert_eq!(c1.latent, bj);
    assert!((c1.cosine - bc).abs() < 1e-4);
    let layers: Vec<usize> = fam.chain.iter().map(|l| l.layer).collect();
    assert_eq!(layers, [0, 1, 2]);
    assert_eq!((fam.chain[1].sae, fam.chain[1].latent), (1, bj));
    assert!(fam.chain[1..].iter().all(|l| l.coactivation.is_some()));
    // Shown with their cosine (the sections above folded, so the lists are in view); a click
    // opens the first.
    h.get_by_label("Nearest neurons");
    h.get_by_label("By co-activation");
    h.get_by_label("Same concept in other candidates");
    h.get_by_label("Chain across layers");
    for section in [
        "Statistics and top-activating examples",
        "Promoted and suppressed tokens",
    ] {
        h.get_by_label(section).click();
        h.run_steps(3);
    }
    if safe_sail::app::fonts::find_cjk_font().is_some() {
        h.snapshot("06_neuron_page_nearest_neurons");
    }
    let first = format!("0_{}", got[0].0);
    assert!(h.query_all_by_label(&format!("{:+.3}", got[0].1)).count() >= 1);
    // The decoder-cosine column comes first.
    h.query_all_by_label(&first).next().unwrap().click();
    h.run_steps(3);
    assert_eq!(h.state().neuron.current, Some((0, got[0].0)));
}

/// The neuron page measures what amplifying the neuron does to the output on the engine
/// thread (the library's numbers: checked against calling it directly), and refuses a strength
/// that is not a number before asking the engine.
#[test]
fn the_neuron_page_measures_what_the_neuron_does_to_the_output() {
    let mut h = harness();
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    let ctx = h.ctx.clone();
    h.state_mut().handle(
        &ctx,
        safe_sail::app::Command::OpenNeuron {
            sae: 0,
            latent: 145,
        },
    );
    wait(&mut h, "the neuron's logits", |a| {
        a.neuron.logits.is_some() && a.idle()
    });
    // Fold the sections above so the measuring section is in view.
    for section in [
        "Statistics and top-activating examples",
        "Promoted and suppressed tokens",
        "Nearest neurons",
    ] {
        h.get_by_label(section).click();
        h.run_steps(3);
    }
    h.state_mut().neuron.output_strength = "NaN".into();
    h.run_steps(2);
    h.get_by_label("Measure").click();
    h.run_steps(3);
    let err = h.state().neuron.output_error.clone().unwrap_or_default();
    assert!(err.contains("not finite"), "{err}");
    assert!(h.state().neuron.output_pending.is_none());
    h.state_mut().neuron.output_strength.clear();
    h.run_steps(2);
    h.get_by_label("Measure").click();
    h.run_steps(2);
    wait(&mut h, "the output effect", |a| {
        a.neuron.output.is_some() && a.idle()
    });
    let (s, l, got) = h.state().neuron.output.clone().unwrap();
    assert_eq!((s, l), (0, 145));
    assert_eq!(got.neuron, "0_145");
    assert_eq!(got.strength, "4x");
    // The same measurement made directly through the library.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let model = safe_sail::model::Model::load_dir(
        &root.join("models/qwen2"),
        &candle_core::Device::Cpu,
        candle_core::DType::F32,
    )
    .unwrap();
    let sae = safe_sail::sae::load_sae(
        &root
            .join("saes/saelens_standard_legacy")
            .display()
            .to_string()
            .parse()
            .unwrap(),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let slot = safe_sail::steer::SaeSlot::new(sae)
        .with_store(&root.join("workspace/stores/L0"))
        .unwrap();
    let want = safe_sail::explain::output::output_effect(
        &model,
        &[slot],
        &"0_145".parse().unwrap(),
        &Default::default(),
        &std::sync::atomic::AtomicBool::new(false),
    )
    .unwrap();
    assert!((got.value - want.value).abs() < 1e-6);
    let ids = |v: &[safe_sail::explain::output::TokenShift]| -> Vec<u32> {
        v.iter().map(|t| t.id).collect()
    };
    assert_eq!(ids(&got.rises), ids(&want.rises));
    assert_eq!(ids(&got.falls), ids(&want.falls));
    assert_eq!(got.example, want.example);
    h.get_by_label("Rises most (Δ log-prob)");
    h.get_by_label("Amplified");
    if safe_sail::app::fonts::find_cjk_font().is_some() {
        h.snapshot("07_neuron_page_output_effect");
    }
}

/// Stop ends a steering run on the engine thread: the streamed answers stop growing and the
/// panel says it stopped (the engine pauses 30 ms after each token it streams, so the run is
/// still going when Stop is clicked). Then the panel's steer-eval runs the starter prompts on
/// the engine, its rows are shown and saved as Parquet, and the interventions are exported as
/// lm-eval's CSV, both beside the workspace file (a copy in a temporary folder).
#[test]
fn stop_ends_a_steering_run_and_steer_eval_runs_on_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("copy.sail.json");
    safe_sail::workspace::Workspace::load(&sample_workspace())
        .unwrap()
        .save_as(&file)
        .unwrap();
    let mut b = Harness::builder().with_size([1400.0, 1000.0]);
    if safe_sail::app::fonts::find_cjk_font().is_none() {
        b = b.allow_missing_glyphs();
    }
    let f2 = file.clone();
    let mut h = b.build_eframe(move |cc| {
        ExplorerApp::with_prefs(&cc.egui_ctx, Prefs::default(), Some(f2.clone()))
    });
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    let ctx = h.ctx.clone();
    h.state_mut().token_delay = Duration::from_millis(30);
    h.state_mut().open_workspace(&ctx, file.clone());
    wait(&mut h, "the slow engine", |a| {
        !a.is_switching() && matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    {
        let app = h.state_mut();
        app.tab = Tab::Steer;
        let slots = app.state.slots.clone();
        app.steer.prefill(
            &slots,
            1,
            7,
            "The violence of the attack shocked the election.",
        );
        app.steer.max_new_tokens = 200;
    }
    h.run_steps(2);
    h.get_by_label("▶ Run steering").click();
    h.run_steps(2);
    wait(&mut h, "a few streamed tokens", |a| {
        a.steer.streamed[0].len() >= 3 || !a.steer.running
    });
    assert!(
        h.state().steer.running,
        "still generating when Stop is clicked"
    );
    h.get_by_label("Stop").click();
    h.run_steps(1);
    wait(&mut h, "the stop", |a| !a.steer.running && a.idle());
    let lens = |a: &ExplorerApp| [a.steer.streamed[0].len(), a.steer.streamed[1].len()];
    let stopped = lens(h.state());
    assert!(stopped[0] < 200, "stopped early: {stopped:?}");
    for _ in 0..15 {
        std::thread::sleep(Duration::from_millis(20));
        h.step();
    }
    assert_eq!(lens(h.state()), stopped, "the answers stopped growing");
    assert!(h.state().steer.result.is_none());
    h.get_by_label("stopped: the answers so far are shown unscored");

    // steer-eval over the starter prompts, on the engine.
    h.state_mut().steer.max_new_tokens = 4;
    h.run_steps(1);
    h.get_by_label("▶ Run steer-eval").click();
    h.run_steps(2);
    wait(&mut h, "the steer-eval", |a| {
        !a.steer.eval_running && a.idle()
    });
    let app = h.state();
    assert_eq!(app.steer.eval_message, None);
    let rows = &app.steer.eval_rows;
    assert_eq!(rows.len(), 2, "the intervention and its control");
    assert!(!rows[0].control && rows[1].control);
    assert_eq!(rows[0].intervention, "L1 topk8 256 (SAELens):1_7=1x:add");
    assert_eq!(
        rows[0].prompts,
        safe_sail::workspace::starters_of(&[]).len()
    );
    assert!((rows[0].applied_norm - rows[1].applied_norm).abs() < 1e-9);
    let (done, total) = app.steer.eval_progress;
    assert_eq!(
        (done, total),
        (3 * rows[0].prompts as u64, 3 * rows[0].prompts as u64)
    );
    h.get_by_label("control: Δ CE");
    h.get_by_label("Save as Parquet…").click();
    h.run_steps(2);
    let pq = dir.path().join("steer-eval.parquet");
    assert!(pq.exists(), "{:?}", h.state().steer.eval_message);
    // The lm-eval CSV, written by the engine.
    h.get_by_label("Export for lm-eval…").click();
    h.run_steps(2);
    wait(&mut h, "the export", |a| a.idle());
    let csv = dir.path().join("steering-lm-eval.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        safe_sail::steer::eval::LM_EVAL_COLUMNS.join(",")
    );
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        (row[1], row[3], row[4]),
        ("add", "blocks.1.hook_mlp_out", "7")
    );
    // Said in the panel (and in the status bar).
    let said = format!("wrote 1 rows to {}", csv.display());
    assert_eq!(h.state().steer.eval_message.as_deref(), Some(said.as_str()));
    assert_eq!(h.query_all_by_label(&said).count(), 2);
}

/// The inspector's "Attribute…" opens the Attribution view with its prompt; Run goes through
/// the engine thread and shows the metric's value as the library computes it, and a click on
/// the top neuron opens its page.
#[test]
fn attribute_the_inspector_s_prompt_through_the_engine() {
    let mut h = harness();
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    let prompt = "The quick brown fox jumps over the lazy";
    h.get_by_label("Prompt").click();
    h.run_steps(2);
    h.get_by_label("Prompt").type_text(prompt);
    h.run_steps(2);
    h.get_by_label("Attribute…").click();
    h.run_steps(3);
    assert_eq!(h.state().tab, Tab::Attribution);
    assert_eq!(h.state().attribution.prompt, prompt);
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, "token")
        .click();
    h.run_steps(1);
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, "token")
        .type_text(" dog");
    h.run_steps(1);
    h.get_by_label("▶ Run attribution").click();
    h.run_steps(2);
    wait(&mut h, "the attribution", |a| {
        a.attribution.result.is_some() && a.idle()
    });
    // The library on the same model, prompt (chat template and system prompt) and metric.
    let ws = safe_sail::workspace::Workspace::load(&sample_workspace()).unwrap();
    let model = safe_sail::model::Model::load_dir(
        &ws.resolve(&ws.model),
        &candle_core::Device::Cpu,
        candle_core::DType::F32,
    )
    .unwrap();
    let spec = safe_sail::model::PromptSpec {
        text: prompt.into(),
        chat: true,
        system: ws.system_prompt.clone(),
        thinking: None,
        truncate: false,
    };
    let context = safe_sail::attribute::context_ids(&model, &spec, None).unwrap();
    let metric = safe_sail::attribute::MetricSpec::LogProb(" dog".into())
        .resolve(&model.tok)
        .unwrap();
    let value = safe_sail::attribute::metric_value(&model, &context, &metric).unwrap();
    let shown = h
        .state()
        .attribution
        .result
        .as_ref()
        .unwrap()
        .report
        .attribution
        .value;
    assert!((shown - value).abs() < 1e-4, "{shown} vs {value}");
    h.get_by_label(&format!("Metric value: {shown:.4}"));
    let first = h
        .state()
        .attribution
        .result
        .as_ref()
        .unwrap()
        .report
        .attribution
        .neurons[0]
        .clone();
    h.query_all_by_label(&first.neuron).next().unwrap().click();
    h.run_steps(3);
    assert_eq!(h.state().tab, Tab::Neuron);
    assert_eq!(h.state().neuron.current.map(|c| c.1), Some(first.latent));
}

/// The Compare view's partner figure: a click computes, on the engine thread, each pair of
/// candidates reading the same space; the figure equals `match`'s (the library's
/// `partners_above(0.7)` on the same pair) and stays for the workspace.
#[test]
fn the_compare_view_computes_partners_per_pair() {
    let mut h = harness();
    wait(&mut h, "the engine", |a| {
        matches!(a.state.engine, EngineStatus::Ready { .. })
    });
    h.state_mut().tab = Tab::Compare;
    h.run_steps(3);
    h.get_by_label("Compute partners ≥ 0.7").click();
    h.run_steps(2);
    wait(&mut h, "the partners", |a| {
        !a.compare.partners_running && a.idle()
    });
    let ws = sample_workspace();
    let got = h.state().compare.partners.get(&ws).cloned().unwrap();
    assert_eq!(got.len(), 3, "three pairs of three SAEs of d_in 64");
    let load = |p: &str| {
        safe_sail::sae::load_sae(
            &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join(p)
                .display()
                .to_string()
                .parse()
                .unwrap(),
            &candle_core::Device::Cpu,
        )
        .unwrap()
    };
    let (a, b) = (
        load("tests/fixtures/saes/saelens_standard_legacy"),
        load("tests/fixtures/saes/saelens_topk"),
    );
    use safe_sail::families::{match_decoders, unit_decoder};
    let m = match_decoders(&unit_decoder(&a).unwrap(), &unit_decoder(&b).unwrap()).unwrap();
    let share = got[&(0, 1)].clone().unwrap();
    assert_eq!(share.partners, m.partners_above(0.7));
    assert_eq!(share.pairs, 256);
    let cell = format!("{:.0}%", 100.0 * share.share());
    assert!(h.query_all_by_label(&cell).count() >= 1, "{cell} shown");
    h.get_by_label("every pair computed");
    if safe_sail::app::fonts::find_cjk_font().is_some() {
        h.snapshot("07_compare_partners_computed");
    }
}

/// Neurons → Map: the engine thread computes the map of the SAE (the window keeps drawing),
/// caches it in the SAE's feature store folder, and the points are drawn; a second window
/// reads it from the cache.
#[test]
fn the_neuron_map_is_computed_on_the_engine_thread_and_cached_beside_the_store() {
    let (dir, ws) = editable_workspace();
    let f = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let store = dir.path().join("store-L0");
    copy_dir(&f.join("workspace/stores/L0"), &store);
    let mut w: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ws).unwrap()).unwrap();
    w["saes"][0]["store"] = serde_json::json!(store);
    std::fs::write(&ws, w.to_string()).unwrap();
    let open = |ws: PathBuf| {
        let mut h = Harness::builder()
            .with_size([1500.0, 1000.0])
            .build_eframe(move |cc| {
                ExplorerApp::with_prefs(&cc.egui_ctx, Prefs::default(), Some(ws))
            });
        wait(&mut h, "the engine", |a| {
            matches!(a.state.engine, EngineStatus::Ready { .. })
        });
        h.get_by_label("Neurons").click();
        h.run_steps(3);
        h.get_by_label("Map").click();
        h.run_steps(3);
        wait(&mut h, "the map", |a| {
            !a.state.busy && a.browser.map.screen_pos(0).is_some()
        });
        h
    };
    let h = open(ws.clone());
    assert!(
        h.state().state.status.contains("computed and cached"),
        "{}",
        h.state().state.status
    );
    let cached = store.join(safe_sail::families::map::MAP_FILE);
    let map = safe_sail::families::map::NeuronMap::load(&cached).unwrap();
    assert_eq!(map.points.len(), 256);
    h.get_by_label_contains("click a point to open its page");
    drop(h);
    let h = open(ws);
    assert!(
        h.state().state.status.contains("read from"),
        "{}",
        h.state().state.status
    );
}
