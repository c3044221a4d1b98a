//! The bundled sample workspace: its generated corpus (and, later, its trained model and SAEs).

pub mod corpus;
pub mod demo;
pub mod lm;
pub mod train_lm;
