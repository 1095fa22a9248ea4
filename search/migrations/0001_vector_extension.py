from django.db import migrations
from django.db.utils import DatabaseError

MISSING_EXTENSION = (
    "Snapshelf needs the pgvector extension (>= 0.7) in this Postgres server, and could not create it: {error}\n"
    "Install pgvector on the server (https://github.com/pgvector/pgvector#installation) or run "
    "'CREATE EXTENSION vector;' as a superuser, then migrate again. "
    "Leave DATABASE_URL unset to use the embedded Postgres, which ships pgvector."
)


def create_vector_extension(apps, schema_editor):
    try:
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("SAVEPOINT snapshelf_vector")
            cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")
            cursor.execute("RELEASE SAVEPOINT snapshelf_vector")
    except DatabaseError as exc:
        raise RuntimeError(MISSING_EXTENSION.format(error=str(exc).strip())) from exc


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [migrations.RunPython(create_vector_extension, migrations.RunPython.noop)]
