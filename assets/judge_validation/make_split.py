"""The one-time development / held-out split of the judge validation set.

Why a script: the split must be reproducible by anyone holding the union file, and its
result must be recorded (split.json) so a report can state which examples a judge was
tuned on and which it was measured on. Judges may be tuned on development.jsonl only;
the report prints agreement on heldout.jsonl.

Procedure (see README.md): rows are grouped into strata by (label, harm_score,
request); within each stratum rows are ordered by sha256("<seed>:<id>") and the first
round(40% of the stratum) go to development, the rest to held-out. Both files are
written sorted by id, one JSON object per line, keys in the union file's order.

Usage (from the repository root):
  python assets/judge_validation/make_split.py           # split the union (refuses to
                                                         # overwrite an existing split)
  python assets/judge_validation/make_split.py --check   # exit 1 unless the files on
                                                         # disk are what the split gives
  python assets/judge_validation/make_split.py --record  # after editing rows in the two
        # split files by hand: rewrite the union from them and re-record the hashes
        # (the supplements below, rows written later, are recorded too)

Rows written after the split are never split: the development supplements (for tuning)
and the later held-out parts (written blind to every judge, measured, never tuned on)
are recorded under `supplements` and `heldout_supplements`, each file with its hash, so
the split itself still reproduces from its seed.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
UNION = HERE / "labelled_responses.jsonl"
DEVELOPMENT = HERE / "development.jsonl"
HELDOUT = HERE / "heldout.jsonl"
RECORD = HERE / "split.json"
# Rows written after the split, recorded beside it, never split: for tuning only, and held
# out (written by writers who had read no judge; README.md says when each was measured).
SUPPLEMENTS = (HERE / "development_supplement.jsonl", HERE / "development_supplement_2.jsonl",
               HERE / "development_supplement_3.jsonl", HERE / "development_supplement_4.jsonl")
HELDOUT_SUPPLEMENTS = (HERE / "heldout_2.jsonl", HERE / "heldout_3.jsonl",
                       HERE / "heldout_4.jsonl", HERE / "heldout_5.jsonl")

VERSION = 1
SEED = 20261201
DEVELOPMENT_SHARE = 0.4
CREATED = "2026-12-01"
STRATA_FIELDS = ("label", "harm_score", "request")


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def serialise(rows: list[dict]) -> bytes:
    ordered = sorted(rows, key=lambda r: r["id"])
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ordered).encode("utf-8")


def _rank(row_id: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{row_id}".encode("utf-8")).hexdigest()


def split(rows: list[dict], seed: int = SEED,
          share: float = DEVELOPMENT_SHARE) -> tuple[list[dict], list[dict]]:
    """Stratified, deterministic: the same rows and seed always give the same parts."""
    strata: dict[tuple, list[dict]] = {}
    for row in rows:
        strata.setdefault(tuple(row.get(f) for f in STRATA_FIELDS), []).append(row)
    development: list[dict] = []
    heldout: list[dict] = []
    for key in sorted(strata, key=repr):
        members = sorted(strata[key], key=lambda r: _rank(r["id"], seed))
        n_dev = math.floor(share * len(members) + 0.5)
        development += members[:n_dev]
        heldout += members[n_dev:]
    return development, heldout


def record(dev_bytes: bytes, held_bytes: bytes, union_bytes: bytes) -> dict:
    def entry(data: bytes) -> dict:
        return {"sha256": hashlib.sha256(data).hexdigest(),
                "n": sum(1 for line in data.decode("utf-8").splitlines() if line.strip())}
    return {"version": VERSION, "seed": SEED, "development_share": DEVELOPMENT_SHARE,
            "strata": list(STRATA_FIELDS),
            "procedure": "per stratum, order rows by sha256('<seed>:<id>'); the first "
                         "floor(0.4*n + 0.5) go to development, the rest to held-out",
            "files": {DEVELOPMENT.name: entry(dev_bytes), HELDOUT.name: entry(held_bytes)},
            "union": {UNION.name: entry(union_bytes)},
            **{section: {f.name: entry(f.read_bytes()) for f in files if f.exists()}
               for section, files in (("supplements", SUPPLEMENTS),
                                      ("heldout_supplements", HELDOUT_SUPPLEMENTS))
               if any(f.exists() for f in files)},
            "created": CREATED}


def _write_record(dev_bytes: bytes, held_bytes: bytes, union_bytes: bytes) -> None:
    RECORD.write_text(json.dumps(record(dev_bytes, held_bytes, union_bytes), indent=2) + "\n",
                      encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--record", action="store_true")
    ap.add_argument("--force", action="store_true", help="overwrite an existing split")
    args = ap.parse_args(argv)

    if args.record:
        dev, held = read_rows(DEVELOPMENT), read_rows(HELDOUT)
        union = serialise(dev + held)
        UNION.write_bytes(union)
        _write_record(serialise(dev), serialise(held), union)
        print(f"recorded {len(dev)} development + {len(held)} held-out rows")
        return 0

    union_bytes = UNION.read_bytes()
    dev, held = split(read_rows(UNION))
    dev_bytes, held_bytes = serialise(dev), serialise(held)
    if args.check:
        same = (DEVELOPMENT.exists() and DEVELOPMENT.read_bytes() == dev_bytes
                and HELDOUT.exists() and HELDOUT.read_bytes() == held_bytes
                and RECORD.exists() and json.loads(RECORD.read_text(encoding="utf-8"))
                == record(dev_bytes, held_bytes, union_bytes))
        print("split reproduces" if same else "split does NOT reproduce from the union")
        return 0 if same else 1
    if (DEVELOPMENT.exists() or HELDOUT.exists()) and not args.force:
        print("a split already exists; it is made once (use --check, or --force to redo)",
              file=sys.stderr)
        return 1
    DEVELOPMENT.write_bytes(dev_bytes)
    HELDOUT.write_bytes(held_bytes)
    _write_record(dev_bytes, held_bytes, union_bytes)
    print(f"{len(dev)} development + {len(held)} held-out rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
