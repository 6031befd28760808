import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from fairdesk.triage import datasets

TIERS = ["fast", "deep", "static"]


def _tier_arguments(parser: CommandParser) -> None:
    parser.add_argument("--tier", choices=TIERS, default="fast", help="default: fast")
    parser.add_argument(
        "--model-dir", type=Path, help="deep: the sentence-encoder folder (default: packaged)"
    )
    parser.add_argument("--batch-size", type=int, default=256, help="deep: texts per forward")
    parser.add_argument(
        "--dtype",
        choices=["float32", "bfloat16", "float16"],
        help="deep: the encoder's dtype (default: float32 to train and score, so scores "
        "reproduce; for bench, what the pipeline runs: see FAIRDESK_DEEP_DTYPE)",
    )


def _data_arguments(parser: CommandParser) -> None:
    parser.add_argument(
        "--task", required=True, help="e.g. sentiment, irony, banking77, sarcasm, complaint"
    )
    parser.add_argument("--format", required=True, choices=datasets.FORMATS, dest="fmt")
    parser.add_argument("--text", type=Path, help="tweeteval: one text per line")
    parser.add_argument("--labels", type=Path, help="tweeteval: one label per line")
    parser.add_argument(
        "--data",
        type=Path,
        help="banking77 / csv / complaints / isarcasmeval / airline: the CSV file",
    )


class Command(BaseCommand):
    help = (
        "Triage models: `triage train` builds a bundle, `triage eval` scores one (or the "
        "rules), `triage cv` cross-validates, `triage bench` measures throughput, "
        "`triage distill` makes the static model (once, offline)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="what", required=True)
        train = sub.add_parser("train", help="train a bundle from labelled files")
        _data_arguments(train)
        _tier_arguments(train)
        train.add_argument(
            "--out", type=Path, help="default: DATA_DIR/triage/TASK (deep: .../triage/deep/TASK)"
        )
        train.add_argument(
            "--max-rows", type=int, help="deep: train on a random sample of this many rows"
        )
        train.add_argument("--val-text", type=Path, help="tweeteval validation texts")
        train.add_argument("--val-labels", type=Path, help="tweeteval validation labels")
        train.add_argument("--val-data", type=Path, help="CSV-format validation file")
        train.add_argument(
            "--val-format", choices=datasets.FORMATS, help="default: the same as --format"
        )
        train.add_argument("--json", action="store_true")
        ev = sub.add_parser("eval", help="score a bundle or a predictions file")
        _data_arguments(ev)
        ev.add_argument("--predictions", type=Path, help="one predicted label per line")
        ev.add_argument(
            "--rules",
            action="store_true",
            help="score the rules tier, untrained (tasks: sentiment, complaint)",
        )
        _tier_arguments(ev)
        ev.add_argument("--bundle", type=Path, help="default: where `train` puts it")
        ev.add_argument(
            "--carved",
            action="store_true",
            help="score only the 10%% validation part that `train` carves (seed 0)",
        )
        ev.add_argument(
            "--max-rows",
            type=int,
            help="score a random sample of this many rows (seed 0, file order kept)",
        )
        ev.add_argument("--json", action="store_true")
        cv = sub.add_parser("cv", help="k-fold cross-validation (stratified, seed 0)")
        _data_arguments(cv)
        _tier_arguments(cv)
        cv.add_argument("--folds", type=int, default=10, help="default 10")
        cv.add_argument("--json", action="store_true")
        bench = sub.add_parser("bench", help="texts/s of the rules tier and trained bundles")
        _tier_arguments(bench)
        bench.add_argument("--bundle", type=Path, action="append", default=[], dest="bundles")
        bench.add_argument("--texts", type=int, default=10_000, help="batch size (default 10000)")
        bench.add_argument("--repeats", type=int, default=3, help="best of N runs (default 3)")
        bench.add_argument(
            "--synthetic", action="store_true", help="use built-in texts even if data exists"
        )
        bench.add_argument(
            "--baseline",
            action="store_true",
            help="also time the path before shared featurisation (slow), for the ratio",
        )
        bench.add_argument("--json", action="store_true")
        tune = sub.add_parser(
            "finetune", help="deep: tune the encoder on several tasks at once, with their heads"
        )
        tune.add_argument(
            "--spec",
            type=Path,
            required=True,
            help='JSON: {"tasks": [{"task", "format", "text"/"labels" or '
            '"data", optional "val_text"/"val_labels"/"val_data"/"val_format"}]}',
        )
        tune.add_argument("--model-dir", type=Path, help="the encoder to start from")
        tune.add_argument("--out", type=Path, help="default: DATA_DIR/triage/deep")
        tune.add_argument("--epochs", type=int, default=3, help="default 3")
        tune.add_argument("--batch-size", type=int, default=32, help="default 32")
        tune.add_argument("--lr", type=float, default=5e-5, help="the encoder's (default 5e-5)")
        tune.add_argument(
            "--max-rows-per-epoch", type=int, help="a task's rows per epoch (fresh sample each)"
        )
        tune.add_argument(
            "--precision",
            choices=["float32", "bfloat16"],
            default="float32",
            help="bfloat16: forward and loss under autocast (a GPU, or a CPU with native "
            "bf16); default float32",
        )
        tune.add_argument("--json", action="store_true")
        distill = sub.add_parser("distill", help="distil the static model from MiniLM")
        distill.add_argument("--model-dir", type=Path, help="the encoder (default: packaged)")
        distill.add_argument("--out", type=Path, help="default: DATA_DIR/triage/static")
        distill.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["what"] == "bench":
            self._bench(options)
            return
        if options["what"] == "distill":
            self._distill(options)
            return
        if options["what"] == "finetune":
            self._finetune(options)
            return
        if options["tier"] == "static" and options["what"] == "cv":
            raise CommandError("`triage cv` has no --tier static; train and eval instead")
        from fairdesk.triage.evaluate import cross_validate, evaluate
        from fairdesk.triage.training import split, train_bundle

        task = options["task"]
        if (
            options["what"] == "eval"
            and options["rules"]
            and (options["predictions"] or options["bundle"] or options["tier"] != "fast")
        ):
            raise CommandError(
                "--rules scores the rules alone: no --predictions, --bundle or --tier deep"
            )
        if (
            options["what"] == "train"
            and options.get("max_rows") is not None
            and options["tier"] != "deep"
        ):
            raise CommandError("--max-rows is for --tier deep (the fast tier trains on every row)")
        default_dir = Path(settings.DATA_DIR) / "triage" / task
        if options["tier"] in ("deep", "static"):
            default_dir = Path(settings.DATA_DIR) / "triage" / options["tier"] / task
        try:
            data = datasets.load(
                options["fmt"], text=options["text"], labels=options["labels"], data=options["data"]
            )
            if options["what"] == "train":
                out = options["out"] or default_dir
                validation = None
                if options["val_text"] or options["val_labels"] or options["val_data"]:
                    validation = datasets.load(
                        options["val_format"] or options["fmt"],
                        text=options["val_text"],
                        labels=options["val_labels"],
                        data=options["val_data"],
                    )
                if options["tier"] == "deep":
                    result: dict[str, Any] = self._train_deep(task, data, out, validation, options)
                elif options["tier"] == "static":
                    from fairdesk.triage.static_heads import train_cli

                    result = train_cli(task, data, out, validation, Path(settings.DATA_DIR))
                else:
                    result = train_bundle(task, data, out, validation=validation)
            elif options["what"] == "cv":
                result = cross_validate(
                    task,
                    data,
                    folds=options["folds"],
                    tier=options["tier"],
                    encoder=self._encoder(options) if options["tier"] == "deep" else None,
                    cache_dir=Path(settings.DATA_DIR) / "triage" / "embeddings",
                )
            else:
                if options["carved"]:
                    data = split(data)[1]
                if options["max_rows"] is not None:
                    from fairdesk.triage.deep_heads import subsample

                    data = subsample(data, options["max_rows"])
                bundle_dir = None
                if not (options["predictions"] or options["rules"]):
                    bundle_dir = options["bundle"] or default_dir
                score = evaluate(
                    task,
                    data,
                    predictions=options["predictions"],
                    bundle_dir=bundle_dir,
                    rules=options["rules"],
                    tier=options["tier"],
                    encoder=self._encoder(options, bundle_dir)
                    if bundle_dir and options["tier"] == "deep"
                    else None,
                    cache_dir=Path(settings.DATA_DIR) / "triage" / "embeddings",
                )
                result = score.as_dict()
        except (ValueError, RuntimeError) as exc:  # Dataset/BundleError, DeepUnavailable
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(result))
        elif options["what"] == "cv":
            self.stdout.write(
                f"{task} ({result['tier']}, {result['folds']}-fold): {result['metric']} "
                f"{result['score']['mean']} ± {result['score']['sd']}, accuracy "
                f"{result['accuracy']['mean']} ± {result['accuracy']['sd']} (n={result['n']}; "
                f"pooled {result['pooled']['score']} / {result['pooled']['accuracy']})"
            )
        elif options["what"] == "train":
            v = result["validation"]
            self.stdout.write(
                f"{task}: trained on {result['train_examples']} texts in "
                f"{result['train_seconds']} s; validation {v['metric']} {v['score']} "
                f"(n={v['n']}); bundle in {result['bundle']}"
            )
        else:
            also = f", accuracy {result['accuracy']}" if "accuracy" in result else ""
            self.stdout.write(
                f"{task}: {result['metric']} {result['score']}{also} (n={result['n']})"
            )

    def _bench(self, options: dict[str, Any]) -> None:
        from fairdesk.triage.benchmark import bench, bench_texts

        if options["texts"] < 1:
            raise CommandError("--texts must be at least 1")
        texts, source = bench_texts(options["texts"], synthetic=options["synthetic"])
        try:
            result = bench(
                texts,
                tier=options["tier"],
                bundles=options["bundles"],
                repeats=options["repeats"],
                baseline=options["baseline"],
                encoder=self._encoder(options) if options["tier"] == "deep" else None,
            )
        except (ValueError, RuntimeError) as exc:  # BundleError, DeepUnavailable
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write(f"{result['texts']} texts from {source}, tier {result['tier']}")
        if "device" in result:
            self.stdout.write(f"  device: {result['device']}")
        for name, head in result["heads"].items():
            self.stdout.write(f"  {name}: {head['texts_per_s']:,} texts/s ({head['seconds']} s)")
        self.stdout.write(
            f"  all heads together ({', '.join(result['together'])}): "
            f"{result['texts_per_s']:,} texts/s"
        )
        if "baseline" in result:
            self.stdout.write(
                f"  before shared featurisation: {result['baseline']['texts_per_s']:,} texts/s "
                f"(now {result['speedup']}x faster)"
            )
        if "static" in result:
            plain = result["static"]["plain_only"]
            self.stdout.write(
                f"  plain heads only ({', '.join(plain['together'])}): "
                f"{plain['texts_per_s']:,} texts/s; with static heads for "
                f"{', '.join(result['static']['tasks'])}: {result['static']['ratio']}x that rate"
            )

    def _distill(self, options: dict[str, Any]) -> None:
        from fairdesk.triage import static

        out = options["out"] or static.static_dir(Path(settings.DATA_DIR) / "triage")
        try:
            result = static.distill(out, model_dir=options["model_dir"])
        except (ValueError, RuntimeError) as exc:  # DeepUnavailable
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(
                f"static model: {result['vocabulary']} tokens x {result['dim']} in "
                f"{result['seconds']} s, in {result['static_model']} (with NOTICE and LICENSE)"
            )

    def _encoder(self, options: dict[str, Any], bundle_dir: Path | None = None) -> Any:
        """The deep tier's encoder (imports torch: only for --tier deep): --model-dir, else
        the one ``bundle_dir``'s head was trained on, else the packaged one."""
        from fairdesk.triage import deep_heads
        from fairdesk.triage.deep import DeepEncoder, pipeline_dtype

        dtype = options.get("dtype")
        if dtype is None and options["what"] == "bench":
            dtype = pipeline_dtype()
        if options["model_dir"] is None and bundle_dir is not None:
            meta = deep_heads.read_meta(bundle_dir)
            return deep_heads.encoder_of(
                meta, bundle_dir, batch_size=options["batch_size"], dtype=dtype
            )
        return DeepEncoder(options["model_dir"], batch_size=options["batch_size"], dtype=dtype)

    def _finetune(self, options: dict[str, Any]) -> None:
        from fairdesk.triage import finetune

        out = options["out"] or Path(settings.DATA_DIR) / "triage" / "deep"
        recipe = finetune.Recipe(
            epochs=options["epochs"],
            batch_size=options["batch_size"],
            lr=options["lr"],
            max_rows_per_epoch=options["max_rows_per_epoch"],
            precision=options["precision"],
        )
        log = (lambda line: self.stderr.write(line)) if options["verbosity"] > 0 else None
        try:
            tasks = finetune.read_spec(options["spec"])
            result = finetune.finetune(
                tasks, out, model_dir=options["model_dir"], recipe=recipe, log=log or _quiet
            )
        except (ValueError, RuntimeError) as exc:  # DatasetError, DeepUnavailable
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        resumed = result["resumed_after_epoch"]
        self.stdout.write(
            f"encoder tuned in {result['train_seconds']} s ({result['steps']} steps, "
            f"{result['device']}{f', resumed after epoch {resumed}' if resumed else ''}): "
            f"{result['encoder']}"
        )
        for task, done in result["tasks"].items():
            v = done["validation"]
            self.stdout.write(
                f"  {task}: validation {v['metric']} {v['score']} (n={v['n']}); "
                f"bundle in {done['bundle']}"
            )

    def _train_deep(
        self,
        task: str,
        data: datasets.Dataset,
        out: Path,
        validation: datasets.Dataset | None,
        options: dict[str, Any],
    ) -> dict[str, Any]:
        from fairdesk.triage import deep_heads
        from fairdesk.triage.training import LICENCE_NOTE

        return deep_heads.train_bundle(
            task,
            data,
            out,
            encoder=self._encoder(options),
            validation=validation,
            cache_dir=Path(settings.DATA_DIR) / "triage" / "embeddings",
            max_rows=options["max_rows"],
            licence=LICENCE_NOTE,
        )


def _quiet(line: str) -> None:
    """No progress lines (--verbosity 0)."""
