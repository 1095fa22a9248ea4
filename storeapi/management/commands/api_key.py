"""API keys from a deploy script or CI, as the admin makes them: the key is printed once."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from catalog.management.migrated import MigratedDatabaseCommand
from storeapi.models import ApiKey
from storeapi.services.api_keys import api_key_create, api_key_revoke


class Command(MigratedDatabaseCommand):
    help = "Create, list or revoke API keys of the REST API."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Make a key and print it (only its hash is stored).")
        create.add_argument("--kind", required=True, choices=ApiKey.Kind.values, help="public, read or write.")
        create.add_argument("--name", required=True, help="Who uses it, e.g. 'ERP sync'.")
        create.add_argument(
            "--origin", action="append", default=[], dest="origins",
            help="Public keys: a browser origin allowed to use the key (repeat for more).",
        )  # fmt: skip
        create.add_argument("--throttle-rate", default="", help="Overrides the kind's rate, e.g. 600/min.")
        listing = sub.add_parser("list", help="List keys (never the keys themselves).")
        listing.add_argument("--all", action="store_true", help="Include revoked keys.")
        revoke = sub.add_parser("revoke", help="Deactivate a key: requests with it are refused at once.")
        revoke.add_argument("key", help="The key's id or its prefix, as `list` shows them.")

    def handle(self, *args: object, **options: object) -> None:
        if options["action"] == "create":
            self._create(options)
        elif options["action"] == "list":
            self._list(show_revoked=bool(options["all"]))
        else:
            self._revoke(str(options["key"]))

    def _create(self, options: dict[str, object]) -> None:
        origins = options["origins"]
        assert isinstance(origins, list)
        if origins and options["kind"] != ApiKey.Kind.PUBLIC:
            raise CommandError("Only public keys have allowed origins (read and write keys are for servers).")
        try:
            api_key, key = api_key_create(
                name=str(options["name"]), kind=str(options["kind"]), allowed_origins=origins,
                throttle_rate=str(options["throttle_rate"]),
            )  # fmt: skip
        except ValidationError as exc:
            # full_clean() names the fields.
            problems = (f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items())
            raise CommandError("; ".join(problems)) from exc
        # The key alone on stdout, so that a script can capture it; the rest goes to stderr.
        self.stderr.write(f"Created API key {api_key.pk}: {api_key}. It is shown once; store it now.")
        self.stdout.write(key)

    def _list(self, *, show_revoked: bool) -> None:
        keys = ApiKey.objects.order_by("id") if show_revoked else ApiKey.objects.filter(is_active=True).order_by("id")
        for api_key in keys:
            state = "active" if api_key.is_active else "revoked"
            origins = ",".join(api_key.allowed_origins) or "-"
            used = api_key.last_used_at.isoformat(timespec="seconds") if api_key.last_used_at else "never"
            self.stdout.write(
                f"{api_key.pk}\t{api_key.prefix}…\t{api_key.kind}\t{state}\t{api_key.name}\t"
                f"origins={origins}\trate={api_key.throttle_rate or 'default'}\tlast_used={used}"
            )

    def _revoke(self, ident: str) -> None:
        keys = (
            ApiKey.objects.filter(pk=int(ident)) if ident.isdigit() else ApiKey.objects.filter(prefix=ident.rstrip("…"))
        )
        found = list(keys[:2])
        if len(found) != 1:
            raise CommandError(
                f"No key matches {ident!r}." if not found else f"Several keys match {ident!r}; use the id."
            )
        if api_key_revoke(api_key=found[0]):
            self.stdout.write(f"Revoked API key {found[0].pk}: {found[0]}.")
        else:
            self.stdout.write(f"API key {found[0].pk} was already revoked.")
