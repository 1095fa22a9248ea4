import django.contrib.postgres.fields
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0002_clicked_photos"),
    ]

    operations = [
        migrations.AddField(
            model_name="selftestrun",
            name="source",
            field=models.CharField(
                choices=[("copies", "shopper-like copies of catalog photos"), ("held_out", "held-out shop photos")],
                default="copies",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="selftestrun",
            name="held_out_images",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.BigIntegerField(), blank=True, default=list, size=None
            ),
        ),
    ]
