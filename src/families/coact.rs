//! Co-activation of latents, from feature stores: which tokens of the corpus two latents are
//! both active on, among the tokens of their top-activating examples.
//!
//! A latent's token set is every `(document, position)` where it is active (> 0) inside its
//! top examples as the store keeps them ([`crate::store::Store::top_active_tokens`]); two
//! latents' co-activation is the Jaccard index of their sets, |A ∩ B| / |A ∪ B|. Tokens
//! outside the top examples are not seen, so the index measures shared peaks, not overall
//! correlation; quantile-sampled examples are left out.

use crate::store::Store;
use std::collections::HashMap;

/// A token of a store's corpus: (document, position in the document).
pub type TokenKey = (u64, u32);

/// The Jaccard index of two sorted, deduplicated sets (0 when both are empty).
pub fn jaccard(a: &[TokenKey], b: &[TokenKey]) -> f32 {
    let (mut i, mut j, mut both) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                both += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - both;
    if union == 0 {
        0.0
    } else {
        both as f32 / union as f32
    }
}

/// The tokens where a latent is active (> 0) in its top examples (rows of other kinds are
/// skipped), sorted: a latent's set as [`CoActivation`] builds it, from
/// [`Store::examples`] of one latent.
pub fn active_tokens(examples: &[crate::store::ExampleRow]) -> Vec<TokenKey> {
    let mut v: Vec<TokenKey> = examples
        .iter()
        .filter(|e| e.kind == "top")
        .flat_map(|e| {
            e.acts
                .iter()
                .enumerate()
                .filter(|(_, a)| **a > 0.0)
                .map(move |(p, _)| (e.doc, e.offset + p as u32))
        })
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// One store's latents indexed by the tokens they are active on (built once per store: it
/// reads every latent's top examples).
pub struct CoActivation {
    sets: HashMap<u32, Vec<TokenKey>>,
    by_token: HashMap<TokenKey, Vec<u32>>,
}

impl CoActivation {
    /// Indexes a store's top examples.
    pub fn build(store: &Store) -> anyhow::Result<Self> {
        Ok(Self::from_sets(store.top_active_tokens()?))
    }

    /// Indexes given token sets (sorted and deduplicated here).
    pub fn from_sets(mut sets: HashMap<u32, Vec<TokenKey>>) -> Self {
        let mut by_token: HashMap<TokenKey, Vec<u32>> = HashMap::new();
        for (&l, set) in sets.iter_mut() {
            set.sort_unstable();
            set.dedup();
            for &t in set.iter() {
                by_token.entry(t).or_default().push(l);
            }
        }
        Self { sets, by_token }
    }

    /// A latent's token set (empty when it has no top examples).
    pub fn tokens(&self, latent: u32) -> &[TokenKey] {
        self.sets.get(&latent).map_or(&[], Vec::as_slice)
    }

    /// The `k` latents with the highest Jaccard index with `latent` (only those sharing at
    /// least one token), best first; ties by latent.
    pub fn neighbours(&self, latent: u32, k: usize) -> Vec<(u32, f32)> {
        let mine = self.tokens(latent);
        let mut shared: HashMap<u32, usize> = HashMap::new();
        for t in mine {
            for &l in self.by_token.get(t).map_or(&[][..], Vec::as_slice) {
                if l != latent {
                    *shared.entry(l).or_default() += 1;
                }
            }
        }
        let mut out: Vec<(u32, f32)> = shared
            .into_iter()
            .map(|(l, both)| {
                let union = mine.len() + self.tokens(l).len() - both;
                (l, both as f32 / union as f32)
            })
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out.truncate(k);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jaccard_and_neighbours_count_shared_tokens() {
        let k = |d: u64, p: u32| (d, p);
        let sets = HashMap::from([
            (0, vec![k(1, 0), k(1, 1), k(2, 5), k(3, 3)]),
            (1, vec![k(1, 1), k(2, 5), k(9, 9)]),
            (2, vec![k(3, 3)]),
            (3, vec![k(8, 8)]),
            (4, vec![]),
        ]);
        let co = CoActivation::from_sets(sets);
        // 0 and 1 share 2 of 5 distinct tokens; 0 and 2 share 1 of 4.
        assert_eq!(jaccard(co.tokens(0), co.tokens(1)), 0.4);
        let n = co.neighbours(0, 10);
        assert_eq!(n, vec![(1, 0.4), (2, 0.25)]);
        assert_eq!(co.neighbours(0, 1), vec![(1, 0.4)]);
        assert!(co.neighbours(3, 5).is_empty());
        assert!(co.neighbours(77, 5).is_empty());
        assert_eq!(jaccard(&[], &[]), 0.0);
    }
}
