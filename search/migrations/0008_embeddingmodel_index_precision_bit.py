# The "bit" choice (binary quantisation with re-ranking): no change in the database.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('search', '0007_no_match_calibration'),
    ]

    operations = [
        migrations.AlterField(
            model_name='embeddingmodel',
            name='index_precision',
            field=models.CharField(choices=[('vector', 'Single precision (vector)'), ('halfvec', 'Half precision (halfvec)'), ('bit', 'Binary quantisation (bit), re-ranked')], default='vector', editable=False, max_length=10),
        ),
    ]
