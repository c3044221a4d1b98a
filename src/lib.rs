//! Safe-SAIL Explorer: look inside language models through sparse autoencoders.
//!
//! Data flows one way: [`model`] (Hugging Face models, tokenizers, forward pass with
//! hooks) → [`sae`] (sparse autoencoders in every common checkpoint format) → the
//! command line in `main.rs`.

pub mod app;
pub mod bench;
pub mod capture;
pub mod checks;
pub mod corpus;
pub mod db;
pub mod device;
pub mod eval;
pub mod explain;
pub mod fsutil;
pub mod hooks;
pub mod load;
pub mod model;
pub mod progress;
pub mod pt;
pub mod sae;
pub mod sample;
pub mod store;
pub mod tensor_util;
pub mod workspace;
