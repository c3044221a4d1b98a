#!/usr/bin/env bash
# Records the observable behaviour of the `safe-sail` binary into one folder, so a refactor can
# show that nothing changed: `diff -r OLD NEW` between two runs must be empty.
#
#   tools/golden.sh OUT_DIR [BINARY]      (default binary: target/release/safe-sail)
#
# What it records:
#   help/       `--help` of the binary and of every subcommand (recursively);
#   sae-info/   `sae-info` of every fixture SAE (tests/fixtures/saes/manifest.json, with its options);
#   capture/    `capture --json` of every fixture SAE on its model, and of every fixture model alone
#               (English and Chinese prompts), plus the sha256 of each written tensor file;
#   corpus.sha256  the hashes of `make-corpus --docs 20000 --seed 1`;
#   pipeline/   the outputs of make-corpus → train-sae → evaluate → collect → merge-stores → explain →
#               db apply → score → db export, on the sample model with small settings (wall times
#               and dates masked, tensor and Parquet files by sha256);
#   errors/     the error text of every bad-input case in tests/cli.rs (the tests write them when
#               SAFE_SAIL_GOLDEN_ERRORS names a folder; temporary paths are replaced by <TMP>).
# CARGO overrides the cargo command used for that test run.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: tools/golden.sh OUT_DIR [BINARY]}
BIN=$(realpath "${2:-target/release/safe-sail}")
rm -rf "$OUT"
mkdir -p "$OUT"/{help,sae-info,capture,errors}
OUT=$(realpath "$OUT")
FX=tests/fixtures
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# --help, recursively over subcommands (clap lists them under "Commands:").
help_of() {
  local name=$1; shift
  "$BIN" "$@" --help >"$OUT/help/$name.txt" 2>&1 || true
  local subs
  subs=$(awk '/^Commands:/{on=1;next} on&&/^[^ ]/{on=0} on&&/^  [a-z]/{print $1}' "$OUT/help/$name.txt" |
    grep -v '^help$' || true)
  for s in $subs; do help_of "$name-$s" "$@" "$s"; done
}
help_of safe-sail

# The fixture SAEs, with the options they need, on their models.
python3 - "$FX/saes/manifest.json" >"$WORK/saes.tsv" <<'EOF'
import json, sys
for e in json.load(open(sys.argv[1])):
    opts = "".join(f",{k}={v}" for k, v in e["options"].items())
    print(e["name"], e["path"] + opts, e["model"], sep="\t")
EOF
EN=$(python3 -c 'import json;print(json.load(open("tests/fixtures/refs/prompts.json"))["en"]["text"])')
ZH=$(python3 -c 'import json;print(json.load(open("tests/fixtures/refs/prompts.json"))["zh"]["text"])')
while IFS=$'\t' read -r name spec model; do
  "$BIN" sae-info "$FX/$spec" 2>&1 | sed "s#$PWD#<REPO>#g" >"$OUT/sae-info/$name.txt" || true
  "$BIN" capture --model "$FX/models/$model" --sae "$FX/$spec" --prompt "$EN" --json \
    --out "$WORK/$name.safetensors" >"$OUT/capture/$name.json" 2>&1 || true
  (cd "$WORK" && sha256sum "$name.safetensors" 2>/dev/null) >>"$OUT/capture/sha256.txt" || true
done <"$WORK/saes.tsv"
for model in "$FX"/models/*; do
  m=$(basename "$model")
  for lang in en zh; do
    p=$EN; [ $lang = zh ] && p=$ZH
    "$BIN" capture --model "$model" --hook blocks.0.hook_resid_post --prompt "$p" --logits --json \
      --out "$WORK/$m-$lang.safetensors" >"$OUT/capture/model-$m-$lang.json" 2>&1 || true
    (cd "$WORK" && sha256sum "$m-$lang.safetensors" 2>/dev/null) >>"$OUT/capture/sha256.txt" || true
  done
done

# The sample corpus generator.
"$BIN" make-corpus --out "$WORK/corpus" --docs 20000 --seed 1 >/dev/null 2>&1
(cd "$WORK/corpus" && sha256sum ./*) >"$OUT/corpus.sha256"

# The long-running verbs on small inputs, through the sample model.
# A fixed folder, so that paths recorded inside binary files (collect states) compare.
P=/tmp/safe-sail-golden-pipeline
rm -rf "$P"
S=sample_data/saes
mkdir -p "$OUT/pipeline"
mask() { sed -E 's/"unix:[0-9]+"/"unix:T"/g; s/"time": ?[0-9]+/"time":T/g' "$@"; }
run() { "$BIN" "$@" >>"$OUT/pipeline/stdout.txt" 2>>"$OUT/pipeline/stderr.txt" || echo "exit $? from $1" >>"$OUT/pipeline/stdout.txt"; }
run make-corpus --out "$P/corpus" --docs 400 --seed 3
C=$P/corpus/corpus.jsonl
run train-sae --model sample_data/model --corpus "$C" --hook blocks.1.hook_mlp_out --widths 64 \
  --activation topk,relu,jumprelu --k 4 --tokens 6000 --batch-tokens 512 --context 32 --seed 1 \
  --topk-kernel dense --out "$P/saes"
run train-sae --model sample_data/model --corpus "$C" --hook blocks.2.hook_mlp_out --widths 64 \
  --k 4 --tokens 6000 --batch-tokens 512 --context 32 --seed 1 --out "$P/saes-sparse"
run evaluate --model sample_data/model --sae $S/L1-mlp_out-w512-topk8 --sae $S/L2-mlp_out-w512-relu-l1_0.15 \
  --corpus "$C" --tokens 3000 --context 32 --concept-pairs "$P/corpus/concept_pairs.jsonl" \
  --threshold 0.2 --min-frequency 0.2 --labeled-corpus "$C" --labeled-tokens 3000 --out "$P/eval"
run collect --model sample_data/model --sae $S/L1-mlp_out-w1024-topk16 --sae $S/L3-mlp_out-w512-topk8 \
  --corpus "$C" --context 32 --top-k 5 --quantile-bins 3 --per-bin 2 --max-tokens 4000 --out "$P/stores"
for i in 0 1; do
  run collect --model sample_data/model --sae $S/L1-mlp_out-w1024-topk16 --corpus "$C" --context 32 \
    --top-k 5 --quantile-bins 3 --per-bin 2 --max-tokens 4000 --shard $i/2 --out "$P/shard$i"
done
run merge-stores "$P/shard0" "$P/shard1" --out "$P/merged"
run explain --store "$P/stores/L1-mlp_out-w1024-topk16" --db "$P/neurons.json" --llm baseline --latents 0-199 --concurrency 1
run db apply "$P/neurons.json" assets/sample_reviews.json
run score --store "$P/stores/L1-mlp_out-w1024-topk16" --db "$P/neurons.json" --llm baseline --unit both --latents 0-199 --concurrency 1
run db export "$P/neurons.json" --format safe-sail --out "$P/export.json"
run db export "$P/neurons.json" --format csv --out "$P/export.csv"
run db set "$P/neurons.json" 1_5 --tags violence,x --status verified --note n
run db show "$P/neurons.json" 1_5
sed -i -E "s#$P#<P>#g; s/\"unix:[0-9]+\"/\"unix:T\"/g" "$OUT/pipeline/stdout.txt" "$OUT/pipeline/stderr.txt"
(cd "$P" && find . -path '*llm-cache*' -prune -o -type f -print | sort | while read -r f; do
  case "$f" in
    */training.json) echo "== $f (training.json: not compared)" ;;
    *.json|*.jsonl|*.csv) echo "== $f"; mask "$f" | sed "s#$P#<P>#g" ;;
    *) sha256sum "$f" ;;
  esac
done) >"$OUT/pipeline/files.txt"

# The error text of every bad-input case of the command-line tests.
SAFE_SAIL_GOLDEN_ERRORS="$OUT/errors" ${CARGO:-cargo} test --release --test cli >/dev/null 2>&1 ||
  echo "warning: tests/cli.rs failed" >&2
echo "golden set written to $OUT ($(find "$OUT" -type f | wc -l) files)"
