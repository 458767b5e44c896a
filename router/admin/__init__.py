"""The admin API under ``/api``: one module per resource, the bearer credential checked once at the
mount."""
