//! The window's panels. Each draws from one borrowed [`super::ViewCtx`] and returns
//! [`super::Command`]s for the app to apply; each keeps only its own view state.

pub mod attribution;
pub mod browser;
pub mod compare;
pub mod db_tool;
pub mod editor;
pub mod inspector;
pub mod neuron_map;
pub mod neuron_page;
pub mod new_workspace;
pub mod steer;
pub mod workspace;
