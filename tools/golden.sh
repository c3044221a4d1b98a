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

# The error text of every bad-input case of the command-line tests.
SAFE_SAIL_GOLDEN_ERRORS="$OUT/errors" ${CARGO:-cargo} test --release --test cli >/dev/null 2>&1 ||
  echo "warning: tests/cli.rs failed" >&2
echo "golden set written to $OUT ($(find "$OUT" -type f | wc -l) files)"
