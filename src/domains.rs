//! The safety domains of Safe-SAIL, their sub-categories (the taxonomy, `assets/taxonomy.toml`)
//! and the labels of the sample corpus, in one place.
//!
//! A neuron's tag names a domain (`violence`), a sub-category under its domain
//! (`violence/insult`), or anything else (a free tag). [`Taxonomy::check_tag`] validates a tag;
//! [`tag_matches`] is the one filter rule (a domain matches its sub-categories too).

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::sync::OnceLock;

/// The four safety domains of Safe-SAIL, in display and column order (the order of
/// `assets/taxonomy.toml`; a test checks they agree).
pub const SAFETY_DOMAINS: [&str; 4] = ["pornography", "politics", "violence", "terror"];

/// The labels of the sample corpus documents: the four [`SAFETY_DOMAINS`], then "neutral".
pub const DOMAIN_LABELS: [&str; 5] = [
    SAFETY_DOMAINS[0],
    SAFETY_DOMAINS[1],
    SAFETY_DOMAINS[2],
    SAFETY_DOMAINS[3],
    "neutral",
];

const ASSET: &str = include_str!("../assets/taxonomy.toml");

/// What separates a domain from its sub-category in a tag.
pub const SEP: char = '/';

/// One domain and its sub-categories, in order.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Domain {
    pub name: String,
    /// Its colour in the window (`#rrggbb`; checked by [`Taxonomy::parse`]).
    pub color: String,
    pub subcategories: Vec<String>,
}

impl Domain {
    /// The domain's colour as red, green, blue.
    pub fn rgb(&self) -> [u8; 3] {
        parse_hex_color(&self.color).unwrap_or([120, 120, 120])
    }
}

/// Reads `#rrggbb`.
fn parse_hex_color(s: &str) -> Option<[u8; 3]> {
    let h = s
        .strip_prefix('#')
        .filter(|h| h.len() == 6 && h.is_ascii())?;
    let byte = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

/// The two-level taxonomy of safety tags.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Taxonomy {
    #[serde(rename = "domain")]
    pub domains: Vec<Domain>,
}

/// What a tag names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tag {
    /// A domain of the taxonomy.
    Domain(String),
    /// A sub-category under its domain.
    Sub { domain: String, sub: String },
    /// A tag outside the taxonomy (kept as written).
    Free(String),
}

impl Tag {
    /// The tag as stored: `domain`, `domain/sub-category`, or the free tag.
    pub fn text(&self) -> String {
        match self {
            Tag::Domain(d) | Tag::Free(d) => d.clone(),
            Tag::Sub { domain, sub } => format!("{domain}{SEP}{sub}"),
        }
    }
}

/// The taxonomy of `assets/taxonomy.toml`.
pub fn taxonomy() -> &'static Taxonomy {
    static T: OnceLock<Taxonomy> = OnceLock::new();
    T.get_or_init(|| {
        Taxonomy::parse(ASSET).expect("assets/taxonomy.toml is valid (a test checks it)")
    })
}

/// The domain part of a tag (`violence` for `violence/insult`; the tag itself otherwise).
pub fn tag_domain(tag: &str) -> &str {
    tag.split_once(SEP).map_or(tag, |(d, _)| d).trim()
}

/// Whether a neuron with `tags` passes the filter `want`: a tag equal to it, or, when `want`
/// is a domain, one of its sub-categories.
pub fn tag_matches(tags: &[String], want: &str) -> bool {
    tags.iter()
        .any(|t| t == want || (!want.contains(SEP) && tag_domain(t) == want && t.contains(SEP)))
}

impl Taxonomy {
    /// Reads a taxonomy in the form of `assets/taxonomy.toml`: names non-empty, lower case,
    /// without `/` or `,`, and unique (sub-categories within their domain).
    pub fn parse(text: &str) -> Result<Self> {
        let t: Taxonomy = toml::from_str(text).context("taxonomy")?;
        if t.domains.is_empty() {
            bail!("taxonomy: no [[domain]]");
        }
        let ok = |n: &str| {
            !n.trim().is_empty()
                && n.trim() == n
                && !n.contains([SEP, ','])
                && n.to_lowercase() == n
        };
        for (i, d) in t.domains.iter().enumerate() {
            if !ok(&d.name) {
                bail!(
                    "taxonomy: domain name `{}` must be non-empty lower case without `/` or `,`",
                    d.name
                );
            }
            if parse_hex_color(&d.color).is_none() {
                bail!(
                    "taxonomy: domain `{}` has colour `{}`; write it as #rrggbb",
                    d.name,
                    d.color
                );
            }
            if t.domains[..i].iter().any(|e| e.name == d.name) {
                bail!("taxonomy: domain `{}` is listed twice", d.name);
            }
            for (j, s) in d.subcategories.iter().enumerate() {
                if !ok(s) {
                    bail!("taxonomy: sub-category `{s}` of {} must be non-empty lower case without `/` or `,`", d.name);
                }
                if d.subcategories[..j].contains(s) {
                    bail!(
                        "taxonomy: sub-category `{s}` is listed twice under {}",
                        d.name
                    );
                }
            }
        }
        Ok(t)
    }

    /// The domain named `name`.
    pub fn domain(&self, name: &str) -> Option<&Domain> {
        self.domains.iter().find(|d| d.name == name)
    }

    /// The domains' names, in order.
    pub fn domain_names(&self) -> Vec<&str> {
        self.domains.iter().map(|d| d.name.as_str()).collect()
    }

    /// Reads a tag: `domain/sub-category` must name a sub-category of that domain (else an
    /// error listing the valid ones); a bare domain name is a domain; anything else without `/`
    /// is a free tag. Case and spaces around the parts are forgiven.
    pub fn check_tag(&self, tag: &str) -> Result<Tag> {
        let tag = tag.trim();
        let Some((d, s)) = tag.split_once(SEP) else {
            let low = tag.to_lowercase();
            return Ok(match self.domain(&low) {
                Some(d) => Tag::Domain(d.name.clone()),
                None => Tag::Free(tag.to_string()),
            });
        };
        let (d, s) = (d.trim().to_lowercase(), s.trim().to_lowercase());
        let Some(dom) = self.domain(&d) else {
            bail!(
                "tag `{tag}`: `{d}` is not a safety domain (domains: {})",
                self.domain_names().join(", ")
            );
        };
        match dom.subcategories.iter().find(|x| **x == s) {
            Some(sub) => Ok(Tag::Sub {
                domain: dom.name.clone(),
                sub: sub.clone(),
            }),
            None => bail!(
                "tag `{tag}`: `{s}` is not a sub-category of {d} (valid: {})",
                dom.subcategories
                    .iter()
                    .map(|x| format!("{d}/{x}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// Splits a neuron's tags (as a person writes them) into Safe-SAIL's `tag_list` (domains
    /// and free tags; a sub-category's domain is added when missing) and the sub-categories
    /// (`domain/sub-category`), each without repeats and in the order given.
    pub fn split_tags(&self, tags: &[String]) -> Result<(Vec<String>, Vec<String>)> {
        let (mut list, mut subs) = (Vec::<String>::new(), Vec::<String>::new());
        for t in tags.iter().filter(|t| !t.trim().is_empty()) {
            let (dom, sub) = match self.check_tag(t)? {
                Tag::Sub { domain, sub } => (domain.clone(), Some(format!("{domain}{SEP}{sub}"))),
                other => (other.text(), None),
            };
            if !list.contains(&dom) {
                list.push(dom);
            }
            if let Some(s) = sub.filter(|s| !subs.contains(s)) {
                subs.push(s);
            }
        }
        Ok((list, subs))
    }

    /// A sub-category's place under its domain: (index, number of sub-categories).
    pub fn sub_position(&self, domain: &str, sub: &str) -> Option<(usize, usize)> {
        let d = self.domain(domain)?;
        let i = d.subcategories.iter().position(|s| s == sub)?;
        Some((i, d.subcategories.len()))
    }
}

/// A neuron's tags as a person reads and writes them: each domain of `tag_list` replaced by
/// its sub-categories when `subcategories` has any, free tags kept, and sub-categories whose
/// domain is missing from `tag_list` at the end (the inverse of [`Taxonomy::split_tags`]).
pub fn joined_tags(tag_list: &[String], subcategories: &[String]) -> Vec<String> {
    let mut out = vec![];
    for t in tag_list {
        let subs: Vec<&String> = subcategories
            .iter()
            .filter(|s| s.contains(SEP) && tag_domain(s) == t)
            .collect();
        if subs.is_empty() {
            out.push(t.clone());
        } else {
            out.extend(subs.into_iter().cloned());
        }
    }
    for s in subcategories {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_asset_holds_the_authors_taxonomy_in_column_order() {
        let t = taxonomy();
        assert_eq!(t.domain_names(), SAFETY_DOMAINS);
        assert_eq!(
            t.domains
                .iter()
                .map(|d| d.subcategories.len())
                .sum::<usize>(),
            17
        );
        assert_eq!(
            t.domain("terror").unwrap().subcategories[2],
            "extremist activities"
        );
    }

    #[test]
    fn tags_are_checked_against_the_taxonomy() {
        let t = taxonomy();
        assert_eq!(
            t.check_tag(" Terror / Extremist activities ").unwrap(),
            Tag::Sub {
                domain: "terror".into(),
                sub: "extremist activities".into()
            }
        );
        assert_eq!(
            t.check_tag("violence").unwrap(),
            Tag::Domain("violence".into())
        );
        assert_eq!(t.check_tag("dates").unwrap(), Tag::Free("dates".into()));
        let e = t
            .check_tag("violence/extremist activities")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "tag `violence/extremist activities`: `extremist activities` is not a sub-category of violence \
             (valid: violence/insult, violence/physical violence, violence/criminal offense, \
             violence/cybersecurity, violence/conflict incident)"
        );
        let e = t.check_tag("crime/theft").unwrap_err().to_string();
        assert!(
            e.contains(
                "`crime` is not a safety domain (domains: pornography, politics, violence, terror)"
            ),
            "{e}"
        );
    }

    #[test]
    fn split_and_join_are_inverse() {
        let t = taxonomy();
        let tags: Vec<String> = [
            "x",
            "violence/insult",
            "politics",
            "violence/cybersecurity",
            "violence",
        ]
        .map(String::from)
        .to_vec();
        let (list, subs) = t.split_tags(&tags).unwrap();
        assert_eq!(list, ["x", "violence", "politics"]);
        assert_eq!(subs, ["violence/insult", "violence/cybersecurity"]);
        assert_eq!(
            joined_tags(&list, &subs),
            ["x", "violence/insult", "violence/cybersecurity", "politics"]
        );
        // Joined tags split back to the same record.
        assert_eq!(
            t.split_tags(&joined_tags(&list, &subs)).unwrap(),
            (list, subs)
        );
        // A sub-category whose domain is not in tag_list still shows.
        assert_eq!(
            joined_tags(&["politics".into()], &["terror/weapons".into()]),
            ["politics", "terror/weapons"]
        );
    }

    #[test]
    fn a_domain_filter_matches_its_subcategories() {
        let tags = vec!["violence/insult".to_string(), "x".into()];
        assert!(tag_matches(&tags, "violence"));
        assert!(tag_matches(&tags, "violence/insult"));
        assert!(!tag_matches(&tags, "violence/cybersecurity"));
        assert!(!tag_matches(&tags, "terror"));
        assert!(tag_matches(&tags, "x"));
    }

    #[test]
    fn bad_taxonomies_are_refused() {
        let one = |name: &str, color: &str, subs: &str| {
            format!(
                "[[domain]]\nname = \"{name}\"\ncolor = \"{color}\"\nsubcategories = [{subs}]\n"
            )
        };
        let ok = one("a", "#0a0B0c", "\"x\"");
        let t = Taxonomy::parse(&ok).unwrap();
        assert_eq!(t.domain("a").unwrap().rgb(), [10, 11, 12]);
        assert!(Taxonomy::parse(&one("a/b", "#000000", "")).is_err());
        assert!(Taxonomy::parse(&one("a", "#000000", "\"x\", \"x\"")).is_err());
        assert!(Taxonomy::parse(&format!("{ok}{ok}")).is_err());
        assert!(Taxonomy::parse("").is_err());
        for bad in ["red", "#12345", "#1234567", "#gg0000", "000000"] {
            let e = Taxonomy::parse(&one("a", bad, "")).unwrap_err().to_string();
            assert!(e.contains("#rrggbb") && e.contains(bad), "{e}");
        }
        assert!(
            Taxonomy::parse("[[domain]]\nname = \"a\"\nsubcategories = []").is_err(),
            "a colour is required"
        );
    }

    #[test]
    fn the_asset_gives_each_domain_its_own_colour() {
        let t = taxonomy();
        let colours: Vec<[u8; 3]> = t.domains.iter().map(|d| d.rgb()).collect();
        for (i, c) in colours.iter().enumerate() {
            assert!(!colours[..i].contains(c), "{colours:?}");
        }
        assert_eq!(t.domain("violence").unwrap().rgb(), [220, 50, 47]);
    }
}
