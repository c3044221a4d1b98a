#!/usr/bin/env bash
# Rebuilds everything in sample_data/ from scratch: real text + generated corpus → tokenizer + model → SAE candidates →
# evaluation → feature stores → explanations (baseline, then the hand-reviewed ones) → scores.
# Deterministic (seeded); see sample_data/README.md for what each step makes and how long it
# takes on a 2-core machine. Run from the repository root: tools/build_sample.sh [WORK_DIR [FROM]]
# FROM (lm, saes, evaluation, stores or explanations) keeps what the earlier steps made and
# rebuilds from that step on (the corpus is always regenerated: later steps read it), e.g.
# `tools/build_sample.sh /tmp/lmc stores` after a change to collect.
set -euo pipefail
cd "$(dirname "$0")/.."
# The corpus paths are recorded in the stores and the evaluation: the committed sample was built
# with the default WORK, so only a rebuild with it compares byte for byte.
WORK=${1:-/tmp/lmc}
FROM=${2:-lm}
STEPS=(lm saes evaluation stores explanations)
from_index() { local i; for i in "${!STEPS[@]}"; do [ "${STEPS[$i]}" = "$1" ] && { echo "$i"; return; }; done; echo "unknown step $1 (one of ${STEPS[*]})" >&2; exit 2; }
FROM_I=$(from_index "$FROM")
# Whether a step runs: it is FROM or comes after it.
want() { [ "$(from_index "$1")" -ge "$FROM_I" ]; }
# The dates recorded in the database's provenance and history (the reproducible-builds
# convention; 2026-11-29 00:00 UTC unless set), so a rebuild compares byte for byte.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1795910400}
S=sample_data
BIN=target/release/safe-sail
HOOKS=blocks.1.hook_mlp_out,blocks.2.hook_mlp_out,blocks.3.hook_mlp_out
# The candidates that get feature stores and explanations (one per layer, chosen from the
# evaluation: see sample_data/README.md).
CHOSEN=(L1-mlp_out-w1024-topk16 L2-mlp_out-w1024-topk16 L3-mlp_out-w1024-topk16)

step() { echo; echo "== $* ($(date +%T))"; }
time_of() { local t0=$SECONDS; "$@"; echo "   took $((SECONDS - t0)) s"; }

step build
# Built without SOURCE_DATE_EPOCH, which some C build scripts track: a cached `cargo build`
# stays valid (the binary does not depend on it). SKIP_BUILD=1 uses the binary as it is.
[ -n "${SKIP_BUILD:-}" ] || env -u SOURCE_DATE_EPOCH cargo build --release

step "real text (Debian packages)"
# The real English and Chinese text mixed into the corpus (assets/corpus/real_sources.toml).
# The committed sample was built from these versions; other versions give another corpus.
PKGS=(fortunes=1:1.99.1-7.3 fortunes-zh=2.98 wordnet-base=1:3.0-37 debian-reference-en=2.100
  debian-reference-zh-cn=2.100)
for p in "${PKGS[@]}"; do
  name=${p%%=*} want=${p#*=}
  have=$(dpkg-query -W -f='${Version}' "$name" 2>/dev/null || true)
  if [ -z "$have" ]; then
    echo "installing $name (needs root)"; apt-get install -y "$name" >/dev/null
    have=$(dpkg-query -W -f='${Version}' "$name")
  fi
  [ "$have" = "$want" ] || echo "warning: $name is $have, the committed sample used $want"
done

step corpus
time_of $BIN make-corpus --out "$WORK/corpus" --docs 20000 --seed 1 --real-text / \
  --heldout-style-docs 600

if want lm; then
step "tokenizer + language model"
rm -rf $S/model
time_of $BIN train-lm --corpus "$WORK/corpus/corpus.jsonl" --out $S/model --steps 1200 \
  --heldout-style "$WORK/corpus/heldout_style.jsonl"
fi

if want saes; then
step "SAE candidates"
rm -rf $S/saes "$WORK/saes"
# f16 weights keep sample_data small; each candidate's training.json stays beside it. The dense
# TopK kernel is the one the committed SAEs were trained with (the sparse default is faster and
# equal up to rounding, which over 300 steps gives other latents than the reviewed ones).
time_of $BIN train-sae --model $S/model --corpus "$WORK/corpus/corpus.jsonl" --hook $HOOKS \
  --widths 512,1024 --activation topk,relu,jumprelu --k 8,16 --l1 0.15 --l0-coeff 0.01 \
  --tokens 300000 --batch-tokens 1024 --lr 0.002 --context 64 --seed 0 --checkpoint-every 100 \
  --save-dtype f16 --topk-kernel dense --out $S/saes
fi

if want evaluation; then
step evaluation
SAES=()
for d in $S/saes/L*; do SAES+=(--sae "$d"); done
# L0,t with the defaults (t = 0.5, per concept, Δ over each latent's 0.999 quantile from a
# calibration pass over --tokens of the corpus, the same for every candidate).
time_of $BIN evaluate --model $S/model "${SAES[@]}" --corpus "$WORK/corpus/corpus.jsonl" \
  --context 64 --tokens 30000 --concept-pairs "$WORK/corpus/concept_pairs.jsonl" \
  --labeled-corpus "$WORK/corpus/corpus.jsonl" --labeled-tokens 300000 --out $S/eval
fi

if want stores; then
step "feature stores"
rm -rf $S/stores "$WORK/stores"
CS=()
for c in "${CHOSEN[@]}"; do CS+=(--sae $S/saes/$c); done
# Straight into sample_data/stores (one folder per SAE, named after it), so the model and SAE
# paths each store.json records relative to itself hold; the run's own files (its arguments and
# final state, for merges) go to WORK.
time_of $BIN collect --model $S/model "${CS[@]}" --corpus "$WORK/corpus/corpus.jsonl" \
  --context 32 --top-k 20 --quantile-bins 5 --per-bin 3 --batch 16 --max-tokens 300000 \
  --out $S/stores
mkdir -p "$WORK/stores"
mv $S/stores/collect-run.json $S/stores/collect-state.bin "$WORK/stores/"
# SAELens's sparsity.safetensors (log10 feature density over the store's tokens) beside each
# SAE that has a store, as SAELens's trainer writes it and SAELens / SAEBench read it.
for c in "${CHOSEN[@]}"; do time_of $BIN export sparsity --store $S/stores/$c; done
fi

step explanations
rm -f $S/neurons.json $S/neurons.json.history.jsonl
for c in "${CHOSEN[@]}"; do
  time_of $BIN explain --store $S/stores/$c --db $S/neurons.json --llm baseline --concurrency 1
done
# Only the annotator's edits go into the sample's history (not 3,000 baseline writes).
rm -f $S/neurons.json.history.jsonl
# The hand-reviewed explanations of the safety-specific latents (an annotator's work, kept in
# assets/sample_reviews.json; they describe these exact SAEs, so retraining means reviewing again).
SAFE_SAIL_USER=sample-annotator time_of $BIN db apply $S/neurons.json assets/sample_reviews.json

step scores
for c in "${CHOSEN[@]}"; do
  time_of $BIN score --store $S/stores/$c --db $S/neurons.json --llm baseline --unit both \
    --concurrency 1
done
rm -rf $S/neurons.llm-cache
echo; echo "sample_data rebuilt: $(du -sh $S | cut -f1)"
