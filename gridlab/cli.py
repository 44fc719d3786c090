"""Command line: parse arguments -> call the library -> print. A ``GridlabError`` becomes one line on stderr and
exit code 2 (refused); a batch of files in which some could not be read exits with 3 after the good ones are
predicted (``errors.EXIT_SOME_FAILED``); nothing here does work the library cannot do from Python."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import backend, quiet, runs
from .config import SPECS
from .errors import EXIT_SOME_FAILED, ConfigError, GridlabError
from .runs import EXPORT_SUFFIX
from .version import __version__

EXAMPLES = {
    "train": "gridlab train data=fashion-mnist model=seed001_cnn epochs=20\n"
             "  gridlab train preset=fast            # gridlab's fast recipe on Fashion-MNIST (or digits)\n"
             "  gridlab train data=my_images/ image_size=[32,32] color=rgb\n"
             "  gridlab train preset=fast distribute=data_parallel distribute_processes=2 --ray   # on Ray Train",
    "evaluate": "gridlab evaluate runs/fashion-mnist-seed001_cnn [--data mnist]",
    "predict": "gridlab predict runs/digits-seed001_cnn digit.png frame.txt --out predictions.csv\n"
               "  gridlab predict runs/thermal-cnn 'archive/**/*.txt' --out predictions.parquet   # streaming\n"
               "  gridlab predict runs/fashion-mnist-fast shirt.png --explain   # + a saliency PNG per file",
    "sweep": "gridlab sweep data=fashion-mnist preset=fast lr=loguniform(1e-3,2e-2) batch=[128,256] sweep_trials=8\n"
             "  gridlab sweep model=[seed001_cnn,gridlab_fast] sweep_space=space.yaml --address 10.0.0.5:6379",
    "audit": "gridlab audit runs/fashion-mnist-fast            # the validation split's suspect labels\n"
             "  gridlab audit runs/my-images-fast --folds 5      # every training example, by 5-fold cross-validation",
    "models": "gridlab models",
    "presets": "gridlab presets",
    "datasets": "gridlab datasets",
    "info": "gridlab info runs/digits-seed001_cnn",
    "report": "gridlab report runs/digits-seed001_cnn",
    "config": "gridlab config",
    "serve": "gridlab serve runs/fashion-mnist-fast --port 8000    # then open http://127.0.0.1:8000/",
    "export": "gridlab export runs/fashion-mnist-fast --format onnx      # also: litert, saved_model, keras",
    "compare": "gridlab compare runs/fashion-mnist-seed001_cnn runs/fashion-mnist-fast --out compare.html",
    "make-thermal": "gridlab make-thermal data/thermal            # 6,697 face + 392 not_face frames\n"
                    "  gridlab make-thermal data/small --faces 200 --not-faces 40 --seed 1",
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gridlab", description="Train, evaluate and use classifiers of small grids "
                                "(images, sensor frames). Every command has --help.",
                                epilog="exit codes: 0 done; 2 refused (one line on stderr says why; nothing was "
                                       "written); 3 done, but some input files could not be read (each is a row "
                                       "with its error); 130 interrupted.")
    p.add_argument("--version", action="version", version=f"gridlab {__version__}")
    p.add_argument("--debug", action="store_true", help="show the libraries' own start-up lines and warnings "
                                                        f"(for bug reports; also {quiet.DEBUG_VAR}=1)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add(name, help_text):
        return sub.add_parser(name, help=help_text, description=f"{help_text}\n\nexample:\n  {EXAMPLES[name]}",
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    t = add("train", "train a model and write a run directory (config keys as key=value; see `gridlab config`)")
    t.add_argument("overrides", nargs="*", metavar="key=value")
    t.add_argument("--cfg", help="a YAML file of config keys (applied before key=value overrides)")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bars or notices")
    t.add_argument("--ray", action="store_true", help="with distribute=data_parallel: Ray Train starts the "
                                                      "distribute_processes processes (local Ray)")
    t.add_argument("--address", help="HOST:PORT of a Ray cluster to train on (implies --ray)")
    e = add("evaluate", "evaluate a finished run on its test split, or on another data set")
    e.add_argument("run")
    e.add_argument("--data", help="another data set of the same input shape")
    pr = add("predict", "classify image (PNG/JPEG/BMP), .npy or sensor-frame files (or folders and globs of them) "
                        "with a finished run")
    pr.add_argument("run")
    pr.add_argument("files", nargs="+")
    pr.add_argument("--top-k", type=int, default=3)
    pr.add_argument("--out", help="also write the predictions to this CSV file; a name ending in .parquet streams "
                                  "any number of files (folders and globs too) into Parquet shards there, resumable")
    pr.add_argument("--chunk", type=int, default=1024, help="files per Parquet shard when streaming (default 1024)")
    pr.add_argument("--ray", action="store_true", help="stream on Ray Data (local Ray): files decoded in parallel "
                                                       "tasks, ONNX Runtime actors predicting (needs --out X.parquet)")
    pr.add_argument("--address", help="HOST:PORT of a Ray cluster to stream on (implies --ray)")
    pr.add_argument("--runtime", choices=SPECS["serve_runtime"].choices, default="keras",
                    help="onnx uses the run's ONNX export (make it with gridlab export) and ONNX Runtime")
    pr.add_argument("--explain", action="store_true",
                    help="also write a saliency PNG per file (input, what the model looked at, probabilities) into "
                         "OUT-explain/ beside the CSV (explain/ without --out)")
    pr.add_argument("--method", choices=[c for c in SPECS["explain_method"].choices if c != "none"], default="auto",
                    help="saliency method with --explain (auto: Grad-CAM for convolutional models, occlusion "
                         "otherwise)")
    sw = add("sweep", "train many configurations on Ray Tune (local, or a cluster by --address): trials.csv, "
                      "best.yaml, sweep.html")
    sw.add_argument("overrides", nargs="*", metavar="key=value|key=[a,b]|key=loguniform(a,b)")
    sw.add_argument("--cfg", help="a YAML file of config keys (applied before key=value overrides)")
    sw.add_argument("--address", help="HOST:PORT of a running Ray cluster (same as sweep_address=)")
    au = add("audit", "rank a finished run's training labels by how likely they are wrong (suspects.csv)")
    au.add_argument("run")
    au.add_argument("--folds", type=int, help="audit every training example by k-fold cross-validation (trains K "
                                              "models with the run's config); default: the validation split")
    add("models", "list the model zoo: name, seed input, parameter count, source")
    add("presets", "list the presets (preset=NAME) and the keys each sets")
    d = add("datasets", "show where each named data set was found, or why not")
    d.add_argument("--data-dir", help="a folder to look in first")
    i = add("info", "show a run's data, model, training and test metrics")
    i.add_argument("run")
    r = add("report", "rebuild a run's report.html and report.md")
    r.add_argument("run")
    add("config", "list every configuration key with its default and meaning")
    sv = add("serve", "serve a run over HTTP (POST /predict, a web page at /, docs at /docs)")
    sv.add_argument("run")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("overrides", nargs="*", metavar="key=value", help="serve_* keys, e.g. serve_runtime=keras")
    x = add("export", "export a run (ONNX, LiteRT, SavedModel, .keras) and check it agrees on the test split")
    x.add_argument("run")
    x.add_argument("--format", default="onnx", choices=tuple(EXPORT_SUFFIX))
    x.add_argument("--out", help="where to write it (default RUN/export/model.<ext>)")
    c = add("compare", "compare finished runs: a table of their main figures and overlaid validation curves")
    c.add_argument("runs", nargs="+")
    c.add_argument("--out", default="compare.html", help="where to write the HTML page (default compare.html)")
    m = add("make-thermal", "write a synthetic thermal-camera data set (seed 004's layout; generated, not real)")
    m.add_argument("out")
    m.add_argument("--faces", type=int, default=6697)
    m.add_argument("--not-faces", type=int, default=392)
    m.add_argument("--seed", type=int, default=0)
    return p


def _print_rows(rows, header) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in (header, *rows):
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip())


def _train(args) -> int:
    from .config import load_config, parse_overrides
    from .training.fit import train

    overrides = parse_overrides(args.overrides)
    if args.quiet:
        overrides["verbose"] = False
    if args.ray or args.address:
        from .training.on_ray import train_on_ray

        run = train_on_ray(overrides, args.cfg, args.address, progress=lambda m: print(m, file=sys.stderr))
    else:
        run = train(load_config(overrides, args.cfg))
    if run is None:      # a data-parallel process other than 0: process 0 writes the run folder
        return 0
    print(f"{run.folder}  accuracy={run.metrics['accuracy']:.4f}  "
          f"balanced_accuracy={run.metrics['balanced_accuracy']:.4f}")
    if (run.folder / runs.REPORT).is_file():
        print(f"report: {run.folder / runs.REPORT}")
    return 0


def _evaluate(args) -> int:
    from .evaluation import evaluate

    m = evaluate(args.run, args.data)
    keys = [k for k in ("accuracy", "balanced_accuracy", "loss", "mcc", "roc_auc_macro", "pr_auc_macro", "ece",
                        "threshold") if m.get(k) is not None]
    _print_rows([(k, f"{m[k]:.4f}") for k in keys] + [("examples", m["examples"])], ("metric", "value"))
    return 0


def _predict(args) -> int:
    if (args.ray or args.address) and not (args.out and args.out.endswith(".parquet")):
        raise ConfigError("--ray and --address stream into Parquet shards: give --out NAME.parquet.")
    if args.out and args.out.endswith(".parquet"):
        if args.ray or args.address:
            from .serving.ray_data import predict_ray

            summary = predict_ray(args.run, args.files, args.out, args.top_k, args.chunk, args.address)
        else:
            from .prediction.stream import predict_stream

            summary = predict_stream(args.run, args.files, args.out, args.top_k, args.runtime, args.chunk)
        print(f"{summary['files']:,} file(s) in {args.out}: " + ", ".join(
            f"{k} {v:,}" for k, v in summary["per_class"].items()) + f"; {len(summary['refused']):,} failed")
        for r in summary["refused"][:10]:
            print(f"  failed: {r['error']}")
        return EXIT_SOME_FAILED if summary["refused"] else 0
    if args.explain:
        from .evaluation.explain import explain_files

        rows = explain_files(args.run, args.files, args.out, args.top_k, args.runtime, args.method)
    else:
        from .prediction import predict

        rows = predict(args.run, args.files, args.top_k, args.out, args.runtime)
    like = {True: "NO", False: "yes", None: "n/a"}
    table = [(r["file"], r["class"], f"{r['probability']:.4f}",
              "" if r["threshold"] is None else f"{r['threshold']:.4f}", like[r["ood"]],
              ", ".join(f"{t['class']} {t['probability']:.3f}" for t in r["top_k"])) if not r["error"] else
             (r["file"], "-", "-", "-", "-", f"error: {r['error']}") for r in rows]
    _print_rows(table, ("file", "class", "probability", "threshold", "like training data", f"top {args.top_k}"))
    if args.out:
        print(f"written: {args.out}")
    explained = [r["explanation"] for r in rows if r.get("explanation")]
    if explained:
        print(f"saliency: {len(explained)} PNG file(s) in {Path(explained[0]).parent}")
    if rows.failed:
        print(f"gridlab predict: {rows.summary()}", file=sys.stderr)
        return EXIT_SOME_FAILED
    return 0


def _shown(path: Path) -> str:
    """A path relative to the working folder when it is under it (as the user typed the project), else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _sweep(args) -> int:
    from .sweep import sweep

    extra = {"sweep_address": args.address} if args.address else {}
    result = sweep(args.overrides, args.cfg, **extra)
    keys = ["trial", *[k for k in result.rows[0] if k not in ("trial", result.metric, "status", "epochs",
                                                              "val_accuracy", "test_accuracy", "seconds", "folder",
                                                              "error")], result.metric, "status", "test_accuracy"] \
        if result.rows else []
    _print_rows([[("" if r[k] is None else f"{r[k]:.4g}" if isinstance(r[k], float) else r[k]) for k in keys]
                 for r in result.rows], keys)
    for name in ("trials.csv", "best.yaml", "sweep.html"):
        if (result.folder / name).is_file():
            print(f"written: {_shown(result.folder / name)}")
    return 0


def _audit(args) -> int:
    from .training.crossval import audit

    result = audit(args.run, args.folds)
    print(f"{len(result.rows):,} suspect label(s) among {result.examples:,} examples ({result.method})")
    _print_rows([(r["rank"], r["example"], r["given"], r["suggested"], f"{r['score']:.3f}")
                 for r in result.rows[:20]], ("rank", "example", "given", "suggested", "score"))
    if len(result.rows) > 20:
        print(f"... {len(result.rows) - 20:,} more")
    print(f"written: {result.suspects}")
    if result.report:
        print(f"report: {result.report}  (section 'Suspect labels')")
    return 0


def _models(args) -> int:
    from .models import SKLEARN as LINEAR_MODELS
    from .models import build_model
    from .models.zoo import ZOO

    rows = []
    for e in ZOO.values():
        n = 2 if e.name == "seed004_mlp" else 10
        rows.append((e.name, "x".join(map(str, e.seed_input)),
                     f"{build_model(e.name, e.seed_input, n).count_params():,}", e.source, e.about))
    for name, about in LINEAR_MODELS.items():
        rows.append((name, "28x28x1", f"{build_model('seed003_linear', (28, 28, 1), 10).count_params():,}",
                     "scikit-learn (seed 003's baseline)", about))
    _print_rows(rows, ("name", "input", "parameters", "source", "layers"))
    print("\nAny name adapts to the data's input shape and class count; model=FILE.yaml builds a layer list.")
    return 0


def _presets(args) -> int:
    from .config.presets import ABOUT, PRESETS

    for name, values in PRESETS.items():
        print(f"{name}: {ABOUT[name]}")
        if values:
            print("  " + " ".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in values.items()))
    print("\nExplicit key=value arguments win over a preset's values.")
    return 0


def _datasets(args) -> int:
    from .sources.catalog import CATALOG, candidate_dirs, locate

    rows = []
    for name in CATALOG:
        folder = locate(name, args.data_dir)
        where = str(folder) if folder else "not found (looked in " + ", ".join(
            str(p) for _, p in candidate_dirs(name, args.data_dir)) + "); downloads on first use"
        rows.append((name, "found" if folder else "missing", where))
    rows.append(("digits", "found", "bundled with scikit-learn (1,797 8x8 images)"))
    _print_rows(rows, ("data set", "status", "where"))
    return 0


def _info(args) -> int:
    from . import runs

    folder = runs.find_run(args.run)
    info, metrics = runs.read_info(folder), runs.read_metrics(folder)
    rows = [("run", str(folder)), ("data", f"{info.data} ({info.origin})"),
            ("input", f"{tuple(info.input_shape)} {info.input_dtype}, scaling {info.scaling['kind']}"),
            ("classes", ", ".join(info.class_names)),
            ("model", f"{info.model} ({info.parameters:,} parameters, {info.precision})"),
            ("training", f"{info.epochs_run} epochs, best {info.best_epoch}, {info.train_seconds:.1f} s"
                         + (f" (first-epoch compile about {info.compile_seconds:.1f} s)"
                            if info.compile_seconds is not None else "")),
            ("test accuracy", f"{metrics['accuracy']:.4f}"),
            ("balanced accuracy", f"{metrics['balanced_accuracy']:.4f}")]
    if info.threshold is not None:
        rows.append(("threshold", f"{info.threshold:.4f} ({info.threshold_rule})"))
    _print_rows(rows, ("", ""))
    return 0


def _report(args) -> int:
    from .evaluation import rebuild_report

    print(f"report: {rebuild_report(args.run)}")
    return 0


def _config(args) -> int:
    from .config import describe_keys

    print(describe_keys())
    return 0


def _serve(args) -> int:
    import logging

    from .config import load_config, parse_overrides
    from .serving.app import serve

    config = load_config(parse_overrides(args.overrides))
    # the command line owns logging: the server's refusals (gridlab.serving) go to stderr with a timestamp
    # (INFO for gridlab's own loggers only: the libraries' INFO lines, such as tf2onnx's during the first export,
    # are not the user's business)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("gridlab").setLevel(logging.INFO)
    if config.serve_access_log:   # serve_access_log=true: one JSON object per line on stderr, nothing around it
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        access = logging.getLogger("gridlab.access")
        access.addHandler(handler)
        access.propagate = False
    serve(args.run, args.host, args.port, config)
    return 0


def _export(args) -> int:
    from .export import export

    r = export(args.run, args.format, args.out)
    print(f"{r['path']}  {r['bytes']:,} bytes  parity on {r['examples']:,} test examples: argmax agreement "
          f"{r['argmax_agreement']:.2%}, max probability difference {r['max_abs_diff']:.2e}  (passed)")
    return 0


def _compare(args) -> int:
    from .evaluation.compare import compare

    rows, out = compare(args.runs, args.out)
    keys = ("run", "model", "parameters", "train_seconds", "accuracy", "balanced_accuracy", "log_loss")
    _print_rows([[r[k] if not isinstance(r[k], float) else f"{r[k]:.4f}" for k in keys] for r in rows], keys)
    print(f"written: {out}")
    return 0


def _make_thermal(args) -> int:
    from .sources.thermal_synth import make_thermal

    out = make_thermal(args.out, args.faces, args.not_faces, args.seed)
    print(f"{out}  (train with: gridlab train data={out} model=gridlab_cnn)")
    return 0


COMMANDS = {"train": _train, "evaluate": _evaluate, "predict": _predict, "models": _models, "presets": _presets,
            "datasets": _datasets, "info": _info, "report": _report, "config": _config, "compare": _compare,
            "audit": _audit, "sweep": _sweep, "export": _export, "serve": _serve, "make-thermal": _make_thermal}


def main(argv=None, filter_output: bool = False) -> int:
    """Run one command; returns its exit code. ``filter_output`` (the console script) keeps library chatter off
    the terminal (``quiet``); in-process callers such as tests keep their own streams."""
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv           # anywhere on the line, also after the command
    args, extra = parser.parse_known_args([a for a in argv if a != "--debug"])
    if extra:   # key=value after an option (e.g. serve RUN --port 8000 serve_runtime=keras) still counts
        if hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = list(args.overrides) + extra
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not args.command:
        parser.print_help()
        return 2
    if debug or quiet.debugging():
        with quiet.everything():
            return _dispatch(args)
    if filter_output:
        with quiet.quiet_libraries():
            return _dispatch(args)
    return _dispatch(args)


def _dispatch(args) -> int:
    try:
        return COMMANDS[args.command](args)
    except GridlabError as exc:
        print(f"gridlab {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"gridlab {args.command}: interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """The ``gridlab`` console script and ``python -m gridlab``: a process gridlab owns, so Keras is imported without
    the integrations gridlab never calls, here and in the processes it starts (``backend.lean_imports``)."""
    os.environ.setdefault(backend.LEAN_VAR, "1")
    raise SystemExit(main(filter_output=True))
