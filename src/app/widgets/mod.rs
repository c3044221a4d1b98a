//! Small reusable pieces of the panels.

pub mod chat_controls;
pub mod choice;
pub mod heatmap;
pub mod spinner;
pub mod tag_chip;
pub mod token_strip;

pub use chat_controls::chat_controls;
pub use choice::choice;
pub use heatmap::{heatmap, HeatmapRow};
pub use spinner::spinner;
pub use tag_chip::{domain_legend, subcategory_legend, tag_chip, tag_filter_menu};
pub use token_strip::{StripToken, TokenStrip};
