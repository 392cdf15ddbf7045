"""Files shipped with the package: migrations, seeds, templates (Phoenix's `priv/`)."""
