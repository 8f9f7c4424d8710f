"""``model`` commands: train our own reranker, list our models, choose the reranker."""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from pathlib import Path

from affiliation_curator import config
from affiliation_curator.cli import command_group
from affiliation_curator.cli.curated import add_batch_argument, batch_labelled_rows
from affiliation_curator.errors import CuratorError, InputError
from affiliation_curator.engine.model_source import is_hub_id
from affiliation_curator.engine.reranker import LEXICAL_MODEL_ID, ModelCard, load_cross_encoder, local_models


def register(subparsers: argparse._SubParsersAction) -> None:
    sub = command_group(
        subparsers,
        "model",
        help="train, list and choose the reranker model",
        description=(
            "The reranker scores (affiliation, institution) pairs. By default it is the hub model "
            f"{config.DEFAULT_MODEL_ID}; offline, the best local model is used instead. "
            "Train our own offline model with `model train`; choose one with `model use`."
        ),
    )

    p = sub.add_parser(
        "train",
        help="fine-tune our own offline cross-encoder from the registry (and labelled files)",
        description=(
            "Fine-tune a cross-encoder reranker from the packaged all-MiniLM-L6-v2 weights (or --base). "
            "Training pairs come from the registry (names, labels, aliases and acronyms wrapped in departments, "
            "addresses and noise; the retriever's look-alikes as hard negatives) and from labelled gold files "
            "(only the train side of the fixed hash split; the test side stays for evaluation). The accept "
            "threshold is calibrated on held-out rows and saved with the model in curator.json. "
            "Progress and CPU time are printed. Load the result with --model DIR, or `model use DIR`."
        ),
    )
    p.add_argument("--registry", metavar="R", help="registry name or file (default: the active registry)")
    p.add_argument("--gold", metavar="FILE.jsonl", nargs="+", action="extend", default=[],
                   help='labelled rows, JSON Lines {"affiliation": ..., "ror_ids": [...]} (repeatable)')
    p.add_argument("--pairs", metavar="FILE.jsonl",
                   help="labelled pairs (query, document, label 0/1) as written by `export pairs` (.jsonl, .csv, .parquet)")
    add_batch_argument(p, "a batch (name or number) whose curators' decisions give labelled pairs, as `export pairs` "
                          "writes them (repeatable; instead of --pairs)")
    p.add_argument("--out", metavar="DIR", help="model folder to write (default: <data dir>/models/<name>)")
    p.add_argument("--name", default="minilm-affiliations", help="folder name under the models folder when --out is not given")
    p.add_argument("--base", metavar="MODEL", help="model folder or hub id to start from (default: packaged MiniLM; "
                                                   f"e.g. {config.DEFAULT_MODEL_ID})")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="let --base run its own Python code although it is not trusted in the settings (`model trust`)")
    p.add_argument("--epochs", type=float, default=1.0, help="passes over the training pairs (default 1)")
    p.add_argument("--max-steps", type=int, help="stop after this many steps (overrides --epochs)")
    p.add_argument("--batch-size", type=int, default=32, help="pairs per step (default 32)")
    p.add_argument("--learning-rate", type=float, default=5e-5, help="peak learning rate (default 5e-5)")
    p.add_argument("--queries", type=int, default=3000, help="synthetic queries made from the registry (default 3000)")
    p.add_argument("--no-match-queries", type=int, default=600, help="synthetic 'no match' queries (default 600)")
    p.add_argument("--gold-rows", type=int, default=2500,
                   help="most train-side rows used per gold file (default 2500; 0 = all)")
    p.add_argument("--calibration", choices=["accuracy", "precision"], default="accuracy",
                   help="threshold rule: best decision accuracy (default) or highest coverage at precision >= 0.95")
    p.add_argument("--seed", type=int, default=13, help="random seed (default 13)")
    p.add_argument("--document-style", choices=["matched-name", "plain"], default="matched-name",
                   help="institution text the model reads: with the retriever's matched name (default) or plain")
    p.add_argument("--no-blend", action="store_true",
                   help="do not blend the retrieval score into the model's score (weight 0)")
    p.add_argument("--use", action="store_true", help="make the trained model the configured reranker")
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser(
        "calibrate",
        help="choose a model's accept threshold (and retrieval blend) again on labelled rows",
        description=(
            "Re-choose the retrieval-score weight and the accept threshold of one of our models on labelled rows, "
            "fit the curve that turns its score into the probability of being right (shown on the Review card "
            "as 'calibrated probability'), and save them in its curator.json. By default only the rows that training held out of the given "
            "files are used (right for the files the model was trained on); --all-rows uses every row (for "
            "labelled files the model never saw, e.g. exported curator decisions in the gold format)."
        ),
    )
    p.add_argument("model", metavar="DIR", help="model folder (or a name from `model list`)")
    p.add_argument("--registry", metavar="R", help="registry name or file (default: the active registry)")
    p.add_argument("--gold", metavar="FILE.jsonl", nargs="+", action="extend", required=True,
                   help='labelled rows, JSON Lines {"affiliation": ..., "ror_ids": [...]}')
    p.add_argument("--all-rows", action="store_true", help="calibrate on every row, not only the held-out share")
    p.add_argument("--no-blend", action="store_true", help="keep the score the model's own (retrieval weight 0)")
    p.add_argument("--calibration", choices=["accuracy", "precision"], default="accuracy",
                   help="threshold rule: best decision accuracy (default) or highest coverage at precision >= 0.95")
    p.set_defaults(handler=cmd_calibrate)

    from affiliation_curator.cli.combiner import register as register_fit_combiner

    register_fit_combiner(sub)  # model fit-combiner

    p = sub.add_parser("list", help="list our trained models with their cards",
                       description="List the models in the models folder of the data directory, newest first, "
                                   "with threshold and calibration figures; * marks the configured model.")
    p.add_argument("--json", action="store_true", help="print the cards as JSON")
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("use", help="choose the reranker (a model folder, hub id, or 'default')",
                       description="Set the reranker the app and CLI use: a model folder, a name from `model list`, a "
                                   f"Hugging Face id, '{LEXICAL_MODEL_ID}', or 'default' ({config.DEFAULT_MODEL_ID}).")
    p.add_argument("model", metavar="ID_OR_DIR")
    p.add_argument("--no-check", action="store_true", help="save the setting without trying to load the model")
    p.set_defaults(handler=cmd_use)

    p = sub.add_parser(
        "trust", help="let a model run its own Python code (or list / remove the trusted ones)",
        description="A model whose config.json has an auto_map brings Python code that runs in the app and CLI. It "
                    f"runs only for the default model ({config.DEFAULT_MODEL_ID}), our own models in the models folder, "
                    "and the models trusted here: folders, hub ids, or hub ids pinned to one commit (ID@COMMIT: "
                    "that commit is loaded, so a change upstream cannot change the code that runs). With no name: list them.")
    p.add_argument("model", metavar="ID_OR_DIR", nargs="?")
    p.add_argument("--remove", action="store_true", help="stop trusting it")
    p.set_defaults(handler=lambda a: _edit_list("trusted_models", a.model, a.remove, "trusted to run their own code"))

    p = sub.add_parser(
        "allow", help="offer a hub model in the app's model pickers (or list / remove the allowed ones)",
        description="The app's pages choose models from our models folder, the configured model and the hub ids "
                    "allowed here; a web form never takes a free path or id. With no id: list them.")
    p.add_argument("model", metavar="HUB_ID", nargs="?")
    p.add_argument("--remove", action="store_true", help="stop offering it")
    p.set_defaults(handler=lambda a: _edit_list("allowed_models", a.model, a.remove, "offered in the app"))

    p = sub.add_parser(
        "pin", help="show or set the commits the default model and its code are loaded at",
        description="The default model and its remote code are pinned to commits: on first load to what the Hugging "
                    "Face cache holds, unless set here. A newer upstream commit runs only after it is pinned here.")
    p.add_argument("--revision", metavar="SHA", help="commit of the default model ('' to pin again on next load)")
    p.add_argument("--code-revision", metavar="SHA", help="commit of its remote code ('' to pin again on next load)")
    p.set_defaults(handler=cmd_pin)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_train(args: argparse.Namespace) -> int:
    from affiliation_curator.registry import RegistryCatalog
    from affiliation_curator.learning.trainer import train_cross_encoder

    for name, value in (("--batch-size", args.batch_size), ("--queries", args.queries)):
        if value is not None and value < 1:
            raise InputError(f"{name} must be at least 1")
    if args.max_steps is not None and args.max_steps < 1:
        raise InputError("--max-steps must be at least 1")
    if args.epochs <= 0:
        raise InputError("--epochs must be above 0")
    for path in [*args.gold, *([args.pairs] if args.pairs else [])]:
        if not Path(path).is_file():
            raise InputError(f"file not found: {path}")
    registry = RegistryCatalog().resolve(args.registry)
    out = Path(args.out).expanduser() if args.out else config.models_dir() / args.name
    _say(f"training a reranker on registry {getattr(registry, 'name', '?')} ({len(registry)} institutions) -> {out}")
    labelled, curated = batch_labelled_rows(args, registry) or (None, None)  # --batch: the batches' decisions
    report = train_cross_encoder(
        registry,
        out,
        gold_files=args.gold,
        pairs_file=args.pairs,
        labelled=labelled,
        labelled_name="curated decisions",
        base_model=args.base,
        trust_remote_code=args.trust_remote_code,
        epochs=args.epochs,
        max_steps=args.max_steps,
        progress=_say,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        n_queries=args.queries,
        n_no_match=args.no_match_queries,
        gold_rows_per_file=args.gold_rows or None,
        calibration_method=args.calibration,
        seed=args.seed,
        document_style=args.document_style,
        blend=not args.no_blend,
    )
    card = ModelCard.read(Path(report.out_dir))
    if card is not None:  # how this model was made, for whoever wants to make it again
        card.extra["command"] = "python -m affiliation_curator " + shlex.join(getattr(args, "argv", None) or [])
        if curated is not None:  # which decisions it learned from
            card.training["curated"] = curated
        card.write(Path(report.out_dir))
    for line in report.lines():
        print(line)
    if args.use:
        settings = config.Settings.load()
        settings.model = report.out_dir
        settings.save()
        print(f"configured reranker: {report.out_dir}")
    else:
        print(f"use it with --model {report.out_dir} or `python -m affiliation_curator model use {report.out_dir}`")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from affiliation_curator.registry import RegistryCatalog
    from affiliation_curator.learning.recalibrate import RETRIEVAL_WEIGHTS, recalibrate

    for path in args.gold:
        if not Path(path).is_file():
            raise InputError(f"file not found: {path}")
    folder = Path(args.model).expanduser()
    if not folder.is_dir() and (config.models_dir() / args.model).is_dir():
        folder = config.models_dir() / args.model
    if not folder.is_dir():
        raise InputError(f"model folder not found: {args.model}")
    registry = RegistryCatalog().resolve(args.registry)
    report = recalibrate(folder, registry, args.gold, heldout_only=not args.all_rows,
                         weights=(0.0,) if args.no_blend else RETRIEVAL_WEIGHTS, method=args.calibration,
                         progress=_say)
    for line in report.lines():
        print(line)
    return 0


def _configured() -> str:
    return config.Settings.load().model or config.DEFAULT_MODEL_ID


def cmd_list(args: argparse.Namespace) -> int:
    models = local_models()
    configured = _configured()
    if args.json:
        print(json.dumps([{"path": str(f), **card.to_dict()} for f, card in models], indent=1, ensure_ascii=False))
        return 0
    print(f"configured reranker: {configured}" + (" (default)" if not config.Settings.load().model else ""))
    if not models:
        print(f"no trained models in {config.models_dir()} (train one with `model train`)")
        return 0
    for folder, card in models:
        mark = "*" if str(folder) == configured or folder.name == configured else " "
        cal = card.metrics.get("calibration", {}) if isinstance(card.metrics, dict) else {}
        figures = ""
        if cal:
            figures = (f", precision {cal.get('precision', 0):.3f}, coverage {cal.get('coverage', 0):.3f}, "
                       f"acc@1 {cal.get('acc_at_1', 0):.3f} on {cal.get('rows', 0)} held-out rows")
        steps = card.training.get("steps") if isinstance(card.training, dict) else None
        print(f"{mark} {folder.name}  created {card.created or '?'}  base {card.base_model or '?'}")
        print(f"    {folder}")
        print(f"    threshold {card.threshold:.3f}{figures}" + (f"; {steps} training steps" if steps else ""))
    return 0


def _edit_list(field: str, value: str | None, remove: bool, what: str) -> int:
    settings = config.Settings.load()
    values: list[str] = getattr(settings, field)
    if value is not None:
        value = value.strip()
        if not value:
            raise InputError("give a model name")
        folder = Path(value).expanduser()
        if field == "trusted_models" and folder.is_dir():
            value = str(folder.resolve())
        if field == "allowed_models" and not is_hub_id(value):
            raise InputError(f"not a Hugging Face model id: {value!r} (local models go in {config.models_dir()})")
        if remove:
            if value not in values:
                raise InputError(f"{value} is not in the list")
            values.remove(value)
        elif value not in values:
            values.append(value)
        settings.save()
    print(f"models {what}: " + (", ".join(values) if values else "none") + (
        f" (besides {config.DEFAULT_MODEL_ID} and the models folder)" if field == "trusted_models" else ""))
    return 0


def cmd_pin(args: argparse.Namespace) -> int:
    settings = config.Settings.load()
    for name, value in (("model_revision", args.revision), ("code_revision", args.code_revision)):
        if value is None:
            continue
        value = value.strip().lower()
        if value and not re.fullmatch(r"[0-9a-f]{40}", value):
            raise InputError(f"a commit is 40 hexadecimal characters, not {value!r}")
        setattr(settings, name, value)
    if args.revision is not None or args.code_revision is not None:
        settings.save()
    print(f"{config.DEFAULT_MODEL_ID} at {settings.model_revision or 'not pinned yet (pinned on next load)'}; "
          f"its code at {settings.code_revision or 'not pinned yet (pinned on next load)'}")
    return 0


def cmd_use(args: argparse.Namespace) -> int:
    wanted = args.model.strip()
    if not wanted:
        raise InputError("give a model folder, a name from `model list`, a hub id or 'default'")
    if wanted == "default":
        value = ""
    elif wanted == LEXICAL_MODEL_ID:
        value = LEXICAL_MODEL_ID
    else:
        named = config.models_dir() / wanted
        folder = Path(wanted).expanduser()
        if "/" not in wanted and named.is_dir():
            folder = named
        if folder.is_dir():
            value = str(folder.resolve())
        else:
            value = wanted
        if not args.no_check:
            try:
                scorer = load_cross_encoder(value)
            except CuratorError as err:
                raise CuratorError(f"{err} (setting unchanged; --no-check saves it anyway)") from None
            card = ModelCard.read(Path(value)) if Path(value).is_dir() else None
            threshold = f", threshold {scorer.threshold:.3f}" + ("" if card else " (default)")
            print(f"loaded {scorer.describe()}{threshold}")
    settings = config.Settings.load()
    settings.model = value
    settings.save()
    print(f"configured reranker: {value or config.DEFAULT_MODEL_ID + ' (default)'}")
    return 0
