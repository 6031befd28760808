import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from fairdesk.triage import datasets


def _data_arguments(parser: CommandParser) -> None:
    parser.add_argument("--task", required=True, help="e.g. sentiment, irony, banking77")
    parser.add_argument("--format", required=True, choices=datasets.FORMATS, dest="fmt")
    parser.add_argument("--text", type=Path, help="tweeteval: one text per line")
    parser.add_argument("--labels", type=Path, help="tweeteval: one label per line")
    parser.add_argument("--data", type=Path, help="banking77 / csv: the CSV file")


class Command(BaseCommand):
    help = (
        "Triage models: `triage train` builds a bundle, `triage eval` scores one, "
        "`triage bench` measures throughput."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="what", required=True)
        train = sub.add_parser("train", help="train a fast-tier bundle from labelled files")
        _data_arguments(train)
        train.add_argument("--out", type=Path, help="default: DATA_DIR/triage/TASK")
        train.add_argument("--val-text", type=Path, help="tweeteval validation texts")
        train.add_argument("--val-labels", type=Path, help="tweeteval validation labels")
        train.add_argument("--val-data", type=Path, help="banking77 / csv validation file")
        train.add_argument(
            "--val-format", choices=datasets.FORMATS, help="default: the same as --format"
        )
        train.add_argument("--json", action="store_true")
        ev = sub.add_parser("eval", help="score a bundle or a predictions file")
        _data_arguments(ev)
        ev.add_argument("--predictions", type=Path, help="one predicted label per line")
        ev.add_argument("--tier", choices=["fast"], default="fast")
        ev.add_argument("--bundle", type=Path, help="default: DATA_DIR/triage/TASK")
        ev.add_argument(
            "--carved",
            action="store_true",
            help="score only the 10%% validation part that `train` carves (seed 0)",
        )
        ev.add_argument("--json", action="store_true")
        bench = sub.add_parser("bench", help="texts/s of the rules tier and trained bundles")
        bench.add_argument("--tier", choices=["fast"], default="fast")
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

    def handle(self, *args: Any, **options: Any) -> None:
        if options["what"] == "bench":
            self._bench(options)
            return
        from fairdesk.triage.evaluate import evaluate
        from fairdesk.triage.training import split, train_bundle

        task = options["task"]
        default_dir = Path(settings.DATA_DIR) / "triage" / task
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
                result: dict[str, Any] = train_bundle(task, data, out, validation=validation)
            else:
                if options["carved"]:
                    data = split(data)[1]
                bundle_dir = None if options["predictions"] else options["bundle"] or default_dir
                score = evaluate(
                    task, data, predictions=options["predictions"], bundle_dir=bundle_dir
                )
                result = score.as_dict()
        except ValueError as exc:  # DatasetError and BundleError are ValueErrors
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(result))
        elif options["what"] == "train":
            v = result["validation"]
            self.stdout.write(
                f"{task}: trained on {result['train_examples']} texts in "
                f"{result['train_seconds']} s; validation {v['metric']} {v['score']} "
                f"(n={v['n']}); bundle in {result['bundle']}"
            )
        else:
            self.stdout.write(f"{task}: {result['metric']} {result['score']} (n={result['n']})")

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
            )
        except ValueError as exc:  # BundleError
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write(f"{result['texts']} texts from {source}, tier {result['tier']}")
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
