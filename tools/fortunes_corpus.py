#!/usr/bin/env python3
"""Short real English and Chinese documents for `safe-sail bench-collect`: the entries of the
Debian packages `fortunes` (English quotations: `fortunes`, `wisdom`) and `fortunes-zh` (Chinese
text about Debian: `chinese`), colour codes removed, English and Chinese alternating, one JSON
line `{"text": ...}` per entry.

    apt-get install fortunes fortunes-zh    # measured with 1:1.99.1-7.3 and 2.98
    python3 tools/fortunes_corpus.py > fortunes.jsonl
"""
import itertools
import json
import re
import sys

ROOT = "/usr/share/games/fortunes/"
COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def entries(name):
    with open(ROOT + name, encoding="utf-8") as f:
        text = COLOUR.sub("", f.read())
    return [e.strip() for e in text.split("\n%\n") if e.strip()]


def main():
    en = entries("fortunes") + entries("wisdom")
    zh = entries("chinese")
    for a, b in itertools.zip_longest(en, zh):
        for doc in (a, b):
            if doc:
                sys.stdout.write(json.dumps({"text": doc}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
