# Written by hand (the rollup of kudos per day): the figure "praise" and its cells.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('insights', '0004_promoter_month_cells'),
        ('workspaces', '0003_team_alerts'),
    ]

    operations = [
        migrations.AlterField(
            model_name='rollupday',
            name='figure',
            field=models.CharField(choices=[('parity', 'Parity'), ('service_levels', 'Service Levels'), ('crickets', 'Crickets'), ('csat', 'Csat'), ('root_causes', 'Root Causes'), ('promoters', 'Promoters'), ('promoter_months', 'Promoter Months'), ('praise', 'Praise')], max_length=20),
        ),
        migrations.CreateModel(
            name='PraiseCell',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('employee_key', models.TextField(null=True)),
                ('employee_name', models.TextField(null=True)),
                ('manager_key', models.TextField(null=True)),
                ('manager_name', models.TextField(null=True)),
                ('kudos', models.PositiveIntegerField()),
                ('answered', models.PositiveIntegerField()),
                ('workspace', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='workspaces.workspace')),
            ],
            options={
                'ordering': ['day', 'id'],
                'abstract': False,
                'indexes': [models.Index(fields=['workspace', 'day'], name='praise_cell_idx')],
            },
        ),
    ]
