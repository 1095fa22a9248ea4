from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("search", "0008_embeddingmodel_index_precision_bit"),
    ]

    operations = [
        migrations.AddField(
            model_name="nomatchcalibration",
            name="match_quantiles",
            field=models.JSONField(default=dict),
        ),
        migrations.AddField(
            model_name="nomatchcalibration",
            name="match_space",
            field=models.CharField(blank=True, default="", max_length=100),
        ),
        migrations.AddField(
            model_name="nomatchcalibration",
            name="match_threshold",
            field=models.FloatField(blank=True, null=True),
        ),
    ]
