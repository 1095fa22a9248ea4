import django.contrib.postgres.indexes
from django.db import migrations, models
from django.db.utils import DatabaseError

MISSING_EXTENSION = (
    "Snapshelf needs the pg_trgm extension in this Postgres server (typo correction in search), "
    "and could not create it: {error}\n"
    "pg_trgm is part of Postgres's contrib modules (Debian/Ubuntu: postgresql-contrib; most hosted "
    "Postgres services include it). Install them on the server, or run 'CREATE EXTENSION pg_trgm;' "
    "as a user allowed to, then migrate again. The embedded server finds pg_trgm only after a "
    "restart with its current settings file: stop every Snapshelf process using it, then migrate."
)


def create_trigram_extension(apps, schema_editor):
    try:
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("SAVEPOINT snapshelf_trgm")
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            cursor.execute("RELEASE SAVEPOINT snapshelf_trgm")
    except DatabaseError as exc:
        raise RuntimeError(MISSING_EXTENSION.format(error=str(exc).strip())) from exc


def vocabulary_fill(apps, schema_editor):
    # The live service: the same words the running site collects.
    from search.services.keywords import vocabulary_rebuild

    vocabulary_rebuild()


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
        ("search", "0004_embeddingmodel_index_precision"),
    ]

    operations = [
        migrations.RunPython(create_trigram_extension, migrations.RunPython.noop),
        migrations.CreateModel(
            name="VocabularyWord",
            fields=[
                ("word", models.CharField(max_length=50, primary_key=True, serialize=False)),
            ],
            options={
                "indexes": [
                    django.contrib.postgres.indexes.GistIndex(
                        fields=["word"], name="vocabulary_word_trigrams", opclasses=["gist_trgm_ops"]
                    )
                ],
            },
        ),
        migrations.RunPython(vocabulary_fill, migrations.RunPython.noop),
    ]
