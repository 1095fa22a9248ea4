from django.core.management.base import CommandParser

from catalog.demo import demo_catalog_seed
from catalog.management.migrated import MigratedDatabaseCommand
from catalog.models import Product


class Command(MigratedDatabaseCommand):
    help = "Add the generated demo catalog (64 products with drawn images)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when any product exists.")

    def handle(self, *args: object, **options: object) -> None:
        if options["if_empty"] and Product.objects.exists():
            self.stdout.write("The catalog has products; the demo catalog was not added.")
            return
        created = demo_catalog_seed()
        self.stdout.write(f"Demo catalog: {created} products created.")
