from inference import runtime


def test_the_malloc_tuning_can_be_switched_off(settings):
    settings.GEOGAME_MALLOC_TUNING = False
    assert runtime.tune_allocator() is False
