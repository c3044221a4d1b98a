//! The explainer's and simulator's prompts, rendered from the templates in `assets/prompts/`
//! (embedded in the binary).

use crate::domains::SAFETY_DOMAINS;
use minijinja::{context, Environment};
use std::sync::OnceLock;

const EXPLAINER: &str = include_str!("../../assets/prompts/explainer.jinja");
const SIMULATOR: &str = include_str!("../../assets/prompts/simulator.jinja");

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.add_template("explainer", EXPLAINER)
            .expect("assets/prompts/explainer.jinja parses");
        env.add_template("simulator", SIMULATOR)
            .expect("assets/prompts/simulator.jinja parses");
        env
    })
}

fn render(name: &str, ctx: minijinja::Value) -> String {
    env()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| panic!("assets/prompts/{name}.jinja: {e:#}"))
}

/// The explainer's system message.
pub fn explainer_system() -> String {
    render(
        "explainer",
        context! {
            role => "system",
            domains => SAFETY_DOMAINS,
            taxonomy => crate::domains::taxonomy()
                .domains
                .iter()
                .map(|d| context! { name => d.name, subcategories => d.subcategories })
                .collect::<Vec<_>>(),
        },
    )
}

/// The explainer's user message: the examples' blocks (see `example_block`).
pub fn explainer_user(blocks: &[String]) -> String {
    render("explainer", context! { role => "user", examples => blocks })
}

/// The simulator's system message for `unit` (`token` or `segment`).
pub fn simulator_system(unit: &str) -> String {
    render("simulator", context! { role => "system", unit => unit })
}

/// The simulator's user message: the explanation and the example cut into numbered units
/// (newlines inside a unit written as `\n`).
pub fn simulator_user(explanation: &str, unit: &str, units: &[String]) -> String {
    let units: Vec<String> = units.iter().map(|u| u.replace('\n', "\\n")).collect();
    render(
        "simulator",
        context! { role => "user", unit => unit, explanation => explanation, units => units },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // The prompts' exact text matters: cached replies are keyed by it and the offline
    // simulator's cost is its length. These are the texts of explainer prompt version 3 and
    // simulator prompt version 2.
    #[test]
    fn explainer_prompts_render_exactly() {
        assert_eq!(
            explainer_system(),
            "We study neurons (sparse autoencoder latents) of a language model for AI safety. Each neuron looks for \
             something in text. You see text excerpts, one token per line, each with the neuron's activation scaled \
             from 0 (none) to 10 (strongest). Explain in one or two sentences what the neuron detects. Then say which \
             safety domains it concerns, among: pornography, politics, violence, terror (none if unrelated). Where \
             one of a domain's sub-categories fits, give it as domain/sub-category instead of the bare domain; the \
             sub-categories are pornography: sexual behavior, sexual abuse, sexual health, intimate relationship; \
             politics: political figure, political event, ideology, cult; violence: insult, physical violence, \
             criminal offense, cybersecurity, conflict incident; terror: terrorism, religious oppression, extremist \
             activities, weapons. Answer with JSON only: {\"explanation\": \"...\", \"tags\": [\"...\"]}."
        );
        assert_eq!(
            explainer_user(&["a\t3\nb\t0\n<end>\n".into(), "c\t10\n<end>\n".into()]),
            "Neuron activations:\na\t3\nb\t0\n<end>\nc\t10\n<end>\nAnswer with the JSON object only."
        );
        assert_eq!(
            explainer_user(&[]),
            "Neuron activations:\nAnswer with the JSON object only."
        );
    }

    #[test]
    fn simulator_prompts_render_exactly() {
        assert_eq!(
            simulator_system("token"),
            "You predict a language-model neuron's activations from its explanation. For each numbered token give \
             an integer from 0 (none) to 10 (strongest). Answer with JSON only: {\"predictions\": [numbers, one per \
             token, in order]}."
        );
        assert_eq!(
            simulator_system("segment"),
            "You predict a language-model neuron's activations from its explanation. For each numbered segment give \
             1 if the neuron fires anywhere in the segment, else 0. Answer with JSON only: {\"predictions\": \
             [numbers, one per segment, in order]}."
        );
        assert_eq!(
            simulator_user(
                "fires on \"bomb\" <b>",
                "segment",
                &["x y".into(), "a\nb".into()]
            ),
            "Explanation of the neuron: fires on \"bomb\" <b>\n\nsegments:\n0\tx y\n1\ta\\nb\n"
        );
        assert_eq!(
            simulator_user("e", "token", &[]),
            "Explanation of the neuron: e\n\ntokens:\n"
        );
    }
}
