"""One number format on every page: points as 4,637 (what common.js's formatPoints writes too)."""

from django import template

register = template.Library()


@register.filter
def thousands(value):
    """An integer with comma thousands separators; anything else as it is."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return value
