"""Functions the reference bot (bots/example_bot.py) wraps in the live tests."""

PIN = (10.0, 20.0)


def fixed_pin_after_checking_views(views):
    """PIN, with a top-k list; refuses anything that is not the JPEG bytes a person is served."""
    if not views or not all(isinstance(v, bytes) and v.startswith(b"\xff\xd8") for v in views):
        raise ValueError("the views are not JPEG images")
    return {"lat": PIN[0], "lon": PIN[1], "top_k": [{"lat": PIN[0], "lon": PIN[1], "p": 0.9}]}
