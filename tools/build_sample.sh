#!/usr/bin/env bash
# Rebuilds everything in sample_data/ from scratch: corpus → tokenizer + model → SAE candidates →
# evaluation → feature stores → explanations (baseline, then the hand-reviewed ones) → scores.
# Deterministic (seeded); see sample_data/README.md for what each step makes and how long it
# takes on a 2-core machine. Run from the repository root: tools/build_sample.sh [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/safe-sail-sample}
S=sample_data
BIN=target/release/safe-sail
HOOKS=blocks.1.hook_mlp_out,blocks.2.hook_mlp_out,blocks.3.hook_mlp_out
# The candidates that get feature stores and explanations (one per layer, chosen from the
# evaluation: see sample_data/README.md).
CHOSEN=(L1-mlp_out-w1024-topk16 L2-mlp_out-w1024-topk16 L3-mlp_out-w1024-topk16)

step() { echo; echo "== $* ($(date +%T))"; }
time_of() { local t0=$SECONDS; "$@"; echo "   took $((SECONDS - t0)) s"; }

step build
cargo build --release

step corpus
time_of $BIN make-corpus --out "$WORK/corpus" --docs 20000 --seed 1

step "tokenizer + language model"
rm -rf $S/model
time_of $BIN train-lm --corpus "$WORK/corpus/corpus.jsonl" --out $S/model --steps 900

step "SAE candidates"
rm -rf $S/saes "$WORK/saes"
time_of $BIN train-sae --model $S/model --corpus "$WORK/corpus/corpus.jsonl" --hook $HOOKS \
  --widths 512,1024 --activation topk,relu,jumprelu --k 8,16 --l1 0.1 --l0-coeff 0.01 \
  --tokens 400000 --batch-tokens 1024 --lr 0.002 --context 64 --seed 0 --checkpoint-every 100 \
  --out "$WORK/saes"
mkdir -p $S/saes
for d in "$WORK"/saes/L*; do
  # f16 weights keep sample_data small; training.json stays beside them.
  $BIN sae-convert --to f16 "$d" $S/saes/"$(basename "$d")"
done

step evaluation
SAES=()
for d in $S/saes/L*; do SAES+=(--sae "$d"); done
time_of $BIN evaluate --model $S/model "${SAES[@]}" --corpus "$WORK/corpus/corpus.jsonl" \
  --context 64 --tokens 50000 --concept-pairs "$WORK/corpus/concept_pairs.jsonl" \
  --labeled-corpus "$WORK/corpus/corpus.jsonl" --out $S/eval

step "feature stores"
rm -rf $S/stores "$WORK/stores"
CS=()
for c in "${CHOSEN[@]}"; do CS+=(--sae $S/saes/$c); done
time_of $BIN collect --model $S/model "${CS[@]}" --corpus "$WORK/corpus/corpus.jsonl" \
  --context 32 --top-k 10 --quantile-bins 5 --per-bin 3 --batch 16 --tokens 300000 --out "$WORK/stores"
mkdir -p $S/stores
for d in "$WORK"/stores/*; do
  name=$(basename "$d"); mv "$d" $S/stores/"${name#*-}"
done

step explanations
rm -f $S/neurons.json $S/neurons.json.history.jsonl
for c in "${CHOSEN[@]}"; do
  time_of $BIN explain --store $S/stores/$c --db $S/neurons.json --llm baseline
done
# The hand-reviewed explanations (an annotator's corrections, marked verified).
time_of $BIN db review-file $S/neurons.json tools/sample_reviews.json

step scores
for c in "${CHOSEN[@]}"; do
  time_of $BIN score --store $S/stores/$c --db $S/neurons.json --llm baseline --unit both
done
rm -rf $S/neurons.llm-cache
echo; echo "sample_data rebuilt: $(du -sh $S | cut -f1)"
