//! Evaluating SAE candidates before any explanation: fidelity and sparsity over a general
//! corpus, and downstream loss with the reconstruction spliced into the model.

pub mod concepts;
pub mod fidelity;
pub mod logistic;
pub mod probing;
pub mod report;
