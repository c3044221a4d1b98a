//! Corpora: reading documents from files ([`read`]) and cutting them into model contexts
//! ([`contexts`], the one splitter behind collect, evaluate, train-sae and the benchmarks).

pub mod contexts;
pub mod read;

pub use contexts::{counts_in_statistics, Budget, ContextSplitter, MessagePolicy};
pub use read::{CorpusReport, CorpusSpec, Doc, DocBody};
