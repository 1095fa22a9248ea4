import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from insights.services.self_test import SelfTestError, self_test_create, self_test_run
from search.models import EmbeddingModel


class Command(BaseCommand):
    help = (
        "Self-test: search shopper-like copies of a sample of the catalog's own photos and print "
        "recall@1/10 and the no-close-match share, overall and per top-level category. The run is "
        "kept and shown in the admin (Search insights > Self-test runs)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", help="A model name (default: the active model); may be one being built.")
        parser.add_argument(
            "--sample", type=int, help="Catalog photos to test (default SNAPSHELF_INSIGHTS_SELF_TEST_SAMPLE)."
        )
        parser.add_argument("--seed", type=int, default=0, help="Which photos and which copies (default 0).")
        parser.add_argument("--json", action="store_true", help="Print the run as JSON.")

    def handle(self, *args: object, **options: object) -> None:
        model = None
        if options["model"]:
            model = (
                EmbeddingModel.objects.filter(name=options["model"])
                .exclude(status=EmbeddingModel.Status.RETIRED)
                .first()
            )
            if model is None:
                raise CommandError(f"No active or building model is called {options['model']!r}.")
        try:
            sample, seed = options["sample"], options["seed"]
            run = self_test_create(model=model, sample=sample if isinstance(sample, int) else None, seed=int(str(seed)))
            run = self_test_run(run)
        except SelfTestError as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            keys = ["model_name", "catalog_size", "queries", "seed", "recall_at_1", "recall_at_10", "no_match_share"]
            self.stdout.write(json.dumps({**{k: getattr(run, k) for k in keys}, "per_category": run.per_category}))
            return
        self.stdout.write(
            f"Self-test of {run.model_name}: {run.queries} photos of a catalog of "
            f"{run.catalog_size} products (seed {run.seed})"
        )
        self.stdout.write(f"{'category':30} {'photos':>6} {'R@1':>6} {'R@10':>6} {'no match':>9}")
        overall = {
            "category": "all", "queries": run.queries, "recall_at_1": run.recall_at_1,
            "recall_at_10": run.recall_at_10, "no_match_share": run.no_match_share,
        }  # fmt: skip
        rows = [*run.per_category, overall]
        for row in rows:
            self.stdout.write(
                f"{row['category'][:30]:30} {row['queries']:>6} {row['recall_at_1']:>6.2f} "
                f"{row['recall_at_10']:>6.2f} {row['no_match_share']:>9.2f}"
            )
