from django import template

register = template.Library()


@register.filter
def duration(seconds) -> str:
    """1830 → "30 min", 4000 → "1 h 6 min", 0 → "—"."""
    try:
        seconds = int(seconds)
    except (TypeError, ValueError):
        return "—"
    if seconds <= 0:
        return "—"
    minutes = round(seconds / 60)
    if minutes < 1:
        return f"{seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
