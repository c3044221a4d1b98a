//! Each panel of the explorer on its own, as rerun tests its panels: a [`fixture::Fixture`]
//! built from the stand-in workspace's files (no model, no engine thread) gives the panel its
//! `ViewCtx`; tests click and type like a user, read what is shown and check the commands
//! the panel returns. Snapshots are in `tests/snapshots/<panel>/<state>.png`
//! (`UPDATE_SNAPSHOTS=1 cargo test --test panels` rewrites them).

mod fixture;

mod attribution;
mod browser;
mod compare;
mod inspector;
mod map;
mod neuron_page;
mod steer;
mod workspace;
