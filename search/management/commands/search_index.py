import sys

from django.core.management.base import CommandError, CommandParser
from tqdm import tqdm

from catalog.management.migrated import MigratedDatabaseCommand
from search.models import EmbeddingStatus
from search.selectors import index_status
from search.services.index_queue import (
    embeddings_process_available,
    embeddings_queue_again,
    embeddings_release_stale_claims,
    models_wanted,
)
from search.services.model_switch import embedding_model_activation_finish_if_built, embedding_model_bootstrap


class Command(MigratedDatabaseCommand):
    help = "Show the search index's status, or rebuild (re-embed) missing, failed or all items."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("status", help="Counts per status and model, queue depth, recent errors.")
        rebuild = sub.add_parser("rebuild", help="Queue items for embedding (default: --missing).")
        which = rebuild.add_mutually_exclusive_group()
        which.add_argument("--missing", action="store_true", help="Items with no vector yet (default).")
        which.add_argument("--failed", action="store_true", help="Items that failed, plus missing ones.")
        which.add_argument("--all", action="store_true", help="Every item, again.")
        rebuild.add_argument("--inline", action="store_true", help="Embed in this process; no broker or worker.")
        rebuild.add_argument("--no-progress", action="store_true")

    def handle(self, *args: object, **options: object) -> None:
        if options["action"] == "status":
            self._status()
        else:
            self._rebuild(options)

    def _status(self) -> None:
        status = index_status()
        self.stdout.write(f"active model: {status.active or 'none'}")
        if status.building:
            self.stdout.write(f"building:     {status.building}")
        if status.building_blocked:
            self.stdout.write(status.building_blocked)
        for entry in status.models:
            for kind, counts in sorted(entry.counts.items()):
                line = ", ".join(f"{name} {counts.get(name, 0)}" for name in EmbeddingStatus.values)
                self.stdout.write(f"  {entry.model.name} [{entry.model.status}] {kind}s: {line}")
        self.stdout.write(f"queue depth (pending): {status.pending}")
        self.stdout.write(f"throughput: {status.per_minute:.1f} items/minute over the last 10 minutes")
        for row in status.recent_errors:
            self.stdout.write(f"  error {row}: {row.error}")

    def _rebuild(self, options: dict) -> None:  # type: ignore[type-arg]
        embedding_model_bootstrap()
        if not models_wanted():
            raise CommandError("No model is active or building: run `manage.py search_model activate NAME`.")
        statuses: list[str] = []
        if options["failed"]:
            statuses = [EmbeddingStatus.FAILED]
        if options["all"]:
            statuses = [EmbeddingStatus.READY, EmbeddingStatus.FAILED]
        queued = embeddings_queue_again(statuses=statuses)
        self.stdout.write(f"{queued} items queued.")
        if options["inline"]:
            self._embed_inline(bool(options["no_progress"]))
        else:
            from search.tasks import embeddings_process_enqueue

            embeddings_process_enqueue()
        embedding_model_activation_finish_if_built()

    def _embed_inline(self, no_progress: bool) -> None:
        embeddings_release_stale_claims()
        total = index_status().pending
        with tqdm(total=total, unit="item", disable=no_progress, file=sys.stderr) as bar:
            while True:
                result = embeddings_process_available(time_budget=5)
                bar.update(result.processed - result.retried)
                if not result.processed and not result.thumbnails:
                    break
        status = index_status()
        failed = sum(entry.total(EmbeddingStatus.FAILED) for entry in status.models if entry.model.is_wanted)
        self.stdout.write(f"done: {status.pending} pending, {failed} failed.")
