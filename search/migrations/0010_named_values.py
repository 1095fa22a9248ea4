import django.contrib.postgres.fields
from django.db import migrations, models

# English stems with no stop words, for the named values of search/services/keywords.py
# (NAMES_CONFIG): "Off White" keeps its "off". Postgres' own snowball template; no files needed.
NAMES_CONFIG_CREATE = [
    "CREATE TEXT SEARCH DICTIONARY snapshelf_english_stem (TEMPLATE = snowball, LANGUAGE = english)",
    "CREATE TEXT SEARCH CONFIGURATION snapshelf_english (COPY = english)",
    "ALTER TEXT SEARCH CONFIGURATION snapshelf_english ALTER MAPPING REPLACE english_stem WITH snapshelf_english_stem",
]
NAMES_CONFIG_DROP = [
    "DROP TEXT SEARCH CONFIGURATION IF EXISTS snapshelf_english",
    "DROP TEXT SEARCH DICTIONARY IF EXISTS snapshelf_english_stem",
]


def keywords_rewrite(apps, schema_editor):
    # The live service (as 0003 did): every keyword document again, now with its named values.
    from catalog.models import CATEGORY_PATH_RELATED, Product
    from search.services.keywords import product_keywords_refresh

    products = Product.objects.select_related(CATEGORY_PATH_RELATED).order_by("pk")
    batch = []
    for product in products.iterator(chunk_size=2000):
        batch.append(product)
        if len(batch) == 2000:
            product_keywords_refresh(batch, vocabulary=False)
            batch = []
    product_keywords_refresh(batch, vocabulary=False)


class Migration(migrations.Migration):
    dependencies = [
        ("search", "0009_no_match_match_space"),
    ]

    operations = [
        migrations.RunSQL(NAMES_CONFIG_CREATE, NAMES_CONFIG_DROP),
        migrations.AddField(
            model_name="productkeywords",
            name="named_values",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(max_length=200), default=list, size=None
            ),
        ),
        migrations.RunPython(keywords_rewrite, migrations.RunPython.noop),
    ]
