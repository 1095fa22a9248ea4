from django.core.management.base import CommandError, CommandParser

from catalog.management.migrated import MigratedDatabaseCommand
from search.models import EmbeddingModel
from search.services.model_switch import (
    ModelSwitchError,
    embedding_model_activate,
    embedding_model_prune,
    embedding_model_reindex,
)


class Command(MigratedDatabaseCommand):
    help = "Show, switch (activate) or prune the embedding models of the search index."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        activate = sub.add_parser("activate", help="Build NAME's vectors in the background, then switch to it.")
        activate.add_argument("name", help="A key of SNAPSHELF_EMBEDDING_MODELS, e.g. offline or clip.")
        activate.add_argument(
            "--inline", action="store_true", help="Embed in this process (no worker needed) and switch when done."
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
