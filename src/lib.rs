//! Safe-SAIL Explorer: look inside language models through sparse autoencoders.
//!
//! The library owns every operation; the command line (`src/cli/`, in the binary) and the
//! window ([`app`]) only parse, call and show. Data flows one way; each layer uses only the
//! layers listed before it:
//!
//! 1. Foundations: [`fsutil`] (atomic writes), [`tensor_util`], [`device`], [`pt`] (PyTorch
//!    files), [`progress`] (the progress sink every long verb takes), [`domains`] (the safety
//!    domains), [`hooks`] (hook-point names), [`quantile`] (high quantiles from top values).
//! 2. [`model`]: Hugging Face folders, one forward pass with hooks for every family
//!    (`model::family`), tokenizer and chat templates, generation.
//! 3. [`sae`]: the one `Sae` type, its checkpoint formats (`sae::format`), training
//!    (`sae::train`, `sae::sweep`) and the decoder logit lens (`sae::lens`).
//! 4. [`corpus`] (reading documents, cutting contexts), [`load`] (models and SAEs as users
//!    name them), [`capture`] (one prompt through a model and SAEs).
//! 5. The verbs over corpora: [`store`] (feature stores: `collect`, merge), [`eval`]
//!    (`evaluate`), [`db`] (neuron databases), [`explain`] (explain and score), [`steer`]
//!    (interventions and tripwires during generation, `steer-eval`), [`attribute`] (which
//!    neurons drove an output: attribution patching with error nodes, exact ablation),
//!    [`families`] (nearest neurons and matching of SAEs by decoder cosine).
//! 6. [`interop`] (what Neuronpedia, SAEDashboard and SAELens read), [`workspace`] (the
//!    workspace file and opening it), [`inspect`] (a prompt's analysis for
//!    the window), [`sample`] (the bundled sample's corpus, model and demo), [`bench`].
//! 7. [`app`]: the explorer window.

pub mod app;
pub mod attribute;
pub mod bench;
pub mod capture;
pub mod checks;
pub mod corpus;
pub mod db;
pub mod device;
pub mod domains;
pub mod eval;
pub mod explain;
pub mod families;
pub mod fsutil;
pub mod hooks;
pub mod inspect;
pub mod interop;
pub mod load;
pub mod mapped;
pub mod model;
pub mod progress;
pub mod pt;
pub mod quantile;
pub mod sae;
pub mod sample;
pub mod steer;
pub mod store;
pub mod tensor_util;
pub mod workspace;
