"""Imagery providers a map can be built from (geogame.maps.builder): Street View and Mapillary.

Each provider has `find(lat, lon)` (a candidate with a `source_id`, or None when there is no
imagery near the point) and `fetch(candidate, heading)` (a `common.Capture` with the image bytes
and the provenance). Stdlib only; no Django.
"""
