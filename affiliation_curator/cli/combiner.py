"""``model fit-combiner``: fit the second-stage combiner on labelled gold files (combiner_fit.py).

    python -m affiliation_curator model fit-combiner --registry R --gold A.jsonl [B.jsonl ...] [--model M] [--out PATH]
        [--absent-is-no-match A.jsonl ...]

Without --out it writes ``lexical-combiner.json`` (lexical fallback) into the data directory's
models folder, where it takes precedence over the one that ships with the project, or
``combiner.json`` into a cross-encoder's model folder; a card (``.md``) is written beside it.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit-combiner",
        help="fit the learned second stage (combiner) on labelled gold files; JSON out, with a card",
        description=(
            "Fit the second-stage combiner: each train-side gold string (gold.split; rows the registry can "
            "answer) is retrieved (and reranked with --model) once, a classifier over the candidates' evidence is "
            "fitted (each file weighted equally), its scores are calibrated to the probability that the top "
            "candidate is right (isotonic, out-of-fold), and the accept threshold is chosen on those scores. "
            "The result is plain JSON (no pickle) with a Markdown card beside it."
        ),
    )
    p.add_argument("--registry", metavar="R", help="registry name or file (default: the active registry)")
    p.add_argument("--gold", metavar="FILE.jsonl", nargs="+", action="extend", required=True,
                   help='labelled rows, JSON Lines {"affiliation": ..., "ror_ids": [...]}; only the train side is used')
    p.add_argument("--absent-is-no-match", metavar="FILE.jsonl", nargs="+", action="extend", default=[],
                   dest="absent_no_match",
                   help="gold files (also given to --gold) whose strings naming only institutions the registry "
                        "lacks are fitted as 'no match' strings; for hand-labelled files, not publisher-asserted "
                        "ones (which label one of several institutions a string names)")
    p.add_argument("--model", metavar="M", default="lexical-fallback",
                   help="scorer whose scores the combiner reads: 'lexical-fallback' (default) or a model folder")
    p.add_argument("--kind", choices=("hgb", "logreg"), default="hgb", help="classifier (default hgb: boosted trees)")
    p.add_argument("--folds", type=int, choices=range(2, 11), default=5, metavar="K",
                   help="folds of the out-of-fold scores the calibration and threshold are chosen on (2-10, default 5)")
    p.add_argument("--out", metavar="PATH", help="file to write (default: where the Matcher looks for this scorer)")
    p.set_defaults(handler=cmd_fit_combiner)


def cmd_fit_combiner(args: argparse.Namespace) -> int:
    from affiliation_curator.engine import combiner as cb
    from affiliation_curator.learning.combiner_fit import refit
    from affiliation_curator.engine.assemble import open_registry, open_scorer
    from affiliation_curator.errors import InputError

    for path in args.gold:
        if not Path(path).is_file():
            raise InputError(f"file not found: {path}")
    given = {Path(p).resolve() for p in args.gold}
    for path in args.absent_no_match:
        if Path(path).resolve() not in given:
            raise InputError(f"--absent-is-no-match {path}: give it to --gold too (only gold files are read)")
    registry = open_registry(args.registry)
    scorer = open_scorer(args.model)
    lexical = getattr(scorer, "model_id", "") == "lexical-fallback"
    if args.out:
        out = Path(args.out).expanduser()
    elif lexical:
        from affiliation_curator import config

        out = config.models_dir() / cb.LEXICAL_COMBINER_FILE
    else:
        folder = cb.combiner_path(scorer, False)
        if folder is None:
            raise InputError("a combiner for a hub model needs --out (it is kept in a local model folder)")
        out = folder
    command = "python -m affiliation_curator " + shlex.join(getattr(args, "argv", None) or sys.argv[1:])
    try:
        refit(registry, args.gold, scorer, out, kind=args.kind, command=command, folds=args.folds,
              absent_no_match=args.absent_no_match)
    except ValueError as err:
        raise InputError(str(err)) from None
    print(f"combiner written: {out}")
    return 0
