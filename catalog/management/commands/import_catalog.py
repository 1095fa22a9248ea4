import sys
from pathlib import Path

from django.core.management.base import CommandError, CommandParser
from tqdm import tqdm

from catalog.importing.readers import FORMATS, count_rows, guess_format, read_catalog_file
from catalog.importing.rows import RowError
from catalog.importing.runner import CatalogImporter
from catalog.management.migrated import MigratedDatabaseCommand

RECONNECT_SECONDS = 60.0


class Command(MigratedDatabaseCommand):
    help = "Import (upsert by SKU) products and their images from a CSV, JSON Lines or Shopify export."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", choices=FORMATS, help="Default: guessed from the file.")
        parser.add_argument(
            "--images",
            type=Path,
            help="Folder that relative image paths start from (default: the file's folder).",
        )
        parser.add_argument("--no-progress", action="store_true", help="Do not draw a progress bar.")

    def handle(self, *args: object, **options: object) -> None:
        path: Path = options["file"]  # type: ignore[assignment]
        if not path.is_file():
            raise CommandError(f"{path} is not a file")
        file_format = options["format"] or guess_format(path)
        images_dir = options["images"] or path.resolve().parent
        # A Postgres restart or failover mid-import: the row is tried again for up to a minute.
        importer = CatalogImporter(images_dir=Path(str(images_dir)), reconnect_seconds=RECONNECT_SECONDS)
        with tqdm(total=count_rows(path), unit="row", disable=bool(options["no_progress"]), file=sys.stderr) as bar:
            try:
                report = importer.run(read_catalog_file(path, str(file_format)), on_row=lambda: bar.update(1))
            except RowError as exc:
                raise CommandError(str(exc)) from exc
        for failure in report.failures:
            self.stderr.write(f"row {failure.row_number} ({failure.sku or 'no SKU'}): {failure.reason}")
        self.stdout.write(
            f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
            f"{report.images_added} images added, {len(report.failures)} failed"
        )
        if report.failures:
            raise CommandError(f"{len(report.failures)} row(s) failed; the other rows were imported.")
