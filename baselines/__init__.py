"""The compared systems, one file each (see ``_template.py`` to add one)."""
