"""What other apps tell the maps app; maps never imports them. Each registers here when its app is
ready (InferenceConfig.ready registers both):

- view files: a file derived from each imported view, stored next to it at import (the machine
  players' model input), as `make(served JPEG bytes) -> bytes` under the view's sha256 + `suffix`;
- split holders: `count(map)` -> how many trained player versions learned from the map's current
  splits (a resplit refuses to move them without --force).
"""

view_files = {}  # suffix -> make
split_holders = []


def register_view_file(suffix, make):
    view_files[suffix] = make


def register_split_holder(count):
    if count not in split_holders:
        split_holders.append(count)
