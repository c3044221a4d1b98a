//! The safety domains of Safe-SAIL and the labels of the sample corpus, in one place.

/// The four safety domains of Safe-SAIL, in display and column order.
pub const SAFETY_DOMAINS: [&str; 4] = ["pornography", "politics", "violence", "terror"];

/// The labels of the sample corpus documents: the four [`SAFETY_DOMAINS`], then "neutral".
pub const DOMAIN_LABELS: [&str; 5] = [
    SAFETY_DOMAINS[0],
    SAFETY_DOMAINS[1],
    SAFETY_DOMAINS[2],
    SAFETY_DOMAINS[3],
    "neutral",
];
