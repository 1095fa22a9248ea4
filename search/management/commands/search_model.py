from django.core.management.base import CommandError, CommandParser

from catalog.management.migrated import MigratedDatabaseCommand
from search.models import EmbeddingModel
from search.services.model_switch import (
    ModelSwitchError,
    candidate_gate_request,
    embedding_model_activate,
    embedding_model_prune,
    embedding_model_reindex,
)
from search.tuning import TuneError, TuneOptions


class Command(MigratedDatabaseCommand):
    help = "Show, switch (activate) or prune the embedding models of the search index."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        activate = sub.add_parser("activate", help="Build NAME's vectors in the background, then switch to it.")
        activate.add_argument("name", help="A key of SNAPSHELF_EMBEDDING_MODELS, e.g. offline or clip.")
        activate.add_argument(
            "--inline", action="store_true", help="Embed in this process (no worker needed) and switch when done."
        )
        tune = sub.add_parser(
            "tune",
            help="Learn an adapter over the active model from the shop's own photos (products with several "
            "photos, search-only shop photos, a share of which is held out) and build it as a candidate that "
            "replaces the active model only when its self-test on the held-out shop photos is better.",
        )
        tune.add_argument("--steps", type=int, default=TuneOptions.steps, help="Training steps.")
        tune.add_argument("--rank", type=int, default=TuneOptions.rank, help="The adapter's rank.")
        tune.add_argument("--seed", type=int, default=TuneOptions.seed)
        tune.add_argument(
            "--inline", action="store_true", help="Build its vectors and run its gate in this process (no worker)."
        )
        sub.add_parser("prune", help="Delete the vectors of retired models.")
        sub.add_parser(
            "reindex",
            help="Rebuild the active model's HNSW indexes with the current settings "
            "(SNAPSHELF_INDEX_PRECISION, SNAPSHELF_HNSW_M, SNAPSHELF_HNSW_EF_CONSTRUCTION).",
        )
        sub.add_parser("list", help="List the models the index knows.")

    def handle(self, *args: object, **options: object) -> None:
        action = options["action"]
        if action == "activate":
            self._activate(str(options["name"]), inline=bool(options["inline"]))
        elif action == "tune":
            self._tune(options)
        elif action == "prune":
            for model in embedding_model_prune():
                self.stdout.write(f"pruned {model}")
        elif action == "reindex":
            try:
                model = embedding_model_reindex()
            except ModelSwitchError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"Rebuilt the HNSW indexes of {model.name} ({model.index_precision}).")
        else:
            for model in EmbeddingModel.objects.all():
                self.stdout.write(f"{model} index={model.index_precision}")

    def _activate(self, name: str, *, inline: bool) -> None:
        from search.embedders.base import EmbedderLoadError

        try:
            model = embedding_model_activate(name)
        except (ModelSwitchError, EmbedderLoadError, KeyError) as exc:
            raise CommandError(str(exc)) from exc
        if model.status == EmbeddingModel.Status.ACTIVE:
            self.stdout.write(f"{model.name} is active ({model.model_id}).")
            return
        if inline:
            from django.core.management import call_command

            call_command("search_index", "rebuild", "--missing", "--inline", stdout=self.stdout, stderr=self.stderr)
            model.refresh_from_db()
            self.stdout.write(f"{model.name} is {model.status}.")
            return
        from search.tasks import embeddings_process_enqueue

        embeddings_process_enqueue()
        self.stdout.write(
            f"Building {model.name} ({model.model_id}); search keeps using the active model until it is built. "
            "Follow it with: manage.py search_index status"
        )

    def _tune(self, options: dict[str, object]) -> None:
        from search.embedders.base import EmbedderLoadError
        from search.services.tuning import model_tune

        tune_options = TuneOptions(
            steps=_positive(options["steps"], "--steps"), rank=_positive(options["rank"], "--rank"),
            seed=int(str(options["seed"])),
        )  # fmt: skip
        try:
            adapter = model_tune(options=tune_options)
        except (TuneError, ModelSwitchError, EmbedderLoadError) as exc:
            raise CommandError(str(exc)) from exc
        t = adapter.training
        self.stdout.write(
            f"Learned {adapter.model_name} over {adapter.base_name}: {t['products']} products, {t['photos']} photos "
            f"({t['shop_photos']} shop photos, {t['clicked_photos']} clicked), {t['steps']} steps, "
            f"loss {t['loss_first']:.3f} -> {t['loss_last']:.3f}, {t['seconds']:.1f} s. {_held_out_line(t)}"
        )
        name = adapter.model_name
        if not options["inline"]:
            from search.tasks import embeddings_process_enqueue

            embeddings_process_enqueue()
            self.stdout.write(
                f"Building {name}; it replaces the active model only when its self-test is better, else it waits "
                "on the admin's models page. Follow it with: manage.py search_index status"
            )
            return
        from django.core.management import call_command

        call_command("search_index", "rebuild", "--missing", "--inline", stdout=self.stdout, stderr=self.stderr)
        model = EmbeddingModel.objects.get(name=name)
        if model.status == EmbeddingModel.Status.WAITING and model.gated:
            candidate_gate_request(model, inline=True)
            model.refresh_from_db()
        self.stdout.write(f"{name} is {model.get_status_display().lower()}. {model.gate_verdict}".strip())


def _positive(value: object, flag: str) -> int:
    number = int(str(value))
    if number < 1:
        raise CommandError(f"{flag} must be at least 1.")
    return number


def _held_out_line(training: dict[str, object]) -> str:
    held_out = training.get("held_out_images") or []
    if not isinstance(held_out, list) or not held_out:
        return "No shop photos held out (too few): its gate will ask shopper-like copies of catalog photos."
    return f"{len(held_out)} shop photos held out of training: its gate will ask them."
