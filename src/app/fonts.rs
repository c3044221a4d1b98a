//! Fonts: egui's bundled fonts have no CJK glyphs, so a system CJK font is added as a
//! fallback when one exists.

use eframe::egui;
use std::path::PathBuf;

/// Well-known places of CJK fonts (Debian/Ubuntu, Fedora, Arch, macOS, Windows), with the
/// face index to use inside `.ttc` collections (Simplified Chinese where there is a choice).
const CANDIDATES: &[(&str, u32)] = &[
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
    (
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
        2,
    ),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    (
        "/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc",
        0,
    ),
    (
        "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
        0,
    ),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
    ("/System/Library/Fonts/PingFang.ttc", 0),
    ("/System/Library/Fonts/STHeiti Light.ttc", 0),
    ("C:\\Windows\\Fonts\\msyh.ttc", 0),
    ("C:\\Windows\\Fonts\\simsun.ttc", 0),
];

/// The first CJK font found on this system (`SAFE_SAIL_CJK_FONT` overrides the search).
pub fn find_cjk_font() -> Option<(PathBuf, u32)> {
    if let Ok(p) = std::env::var("SAFE_SAIL_CJK_FONT") {
        let p = PathBuf::from(p);
        if p.exists() {
            return Some((p, 0));
        }
    }
    CANDIDATES
        .iter()
        .map(|(p, i)| (PathBuf::from(p), *i))
        .find(|(p, _)| p.exists())
}

/// Adds a CJK fallback font. Returns a message for the status bar when none is found.
pub fn install_cjk_font(ctx: &egui::Context) -> Option<String> {
    let Some((path, index)) = find_cjk_font() else {
        return Some(
            "No CJK font found: Chinese text shows as boxes. Install one (e.g. `apt install fonts-noto-cjk`) \
             or set SAFE_SAIL_CJK_FONT=/path/to/font.ttf"
                .into(),
        );
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => return Some(format!("cannot read CJK font {}: {e}", path.display())),
    };
    let mut data = egui::FontData::from_owned(bytes);
    data.index = index;
    for family in [egui::FontFamily::Proportional, egui::FontFamily::Monospace] {
        ctx.add_font(egui::epaint::text::FontInsert::new(
            "cjk",
            data.clone(),
            vec![egui::epaint::text::InsertFontFamily {
                family,
                priority: egui::epaint::text::FontPriority::Lowest,
            }],
        ));
    }
    None
}
