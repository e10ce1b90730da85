"""Retrieval: a place is where the training places that look most like it are (PIGEON's retrieval
refinement, without its geocell classifier). Pure numpy: the player (inference.players.RetrievalPlayer)
brings the backbone features.

1. A location's vector is the mean of its views' L2-normalised features, normalised again.
2. Its k nearest training locations by cosine similarity are the candidates.
3. Each candidate gets weight softmax(similarity / temperature); the pin is the candidate with the
   highest expected points when the answer is candidate i with probability weight i.
"""

import numpy as np

from . import placement


def location_vectors(features, mask):
    """(N, D) unit vectors from (N, V, D) view features and their (N, V) mask; a location with no
    view gets a zero vector (similar to nothing)."""
    features = np.asarray(features, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    norms = np.linalg.norm(features, axis=-1, keepdims=True)
    unit = np.divide(features, norms, out=np.zeros_like(features), where=norms > 0)
    summed = (unit * mask[..., None]).sum(axis=1)
    length = np.linalg.norm(summed, axis=-1, keepdims=True)
    return np.divide(summed, length, out=np.zeros_like(summed), where=length > 0)


def similarity_weights(similarities, temperature):
    """Softmax of cosine similarities over `temperature` (> 0): closer looks weigh more."""
    s = np.asarray(similarities, dtype=np.float64) / temperature
    w = np.exp(s - s.max())
    return w / w.sum()


def nearest(query_vectors, index_vectors, k):
    """(indices (Q, k), similarities (Q, k)): each query's k most similar index rows, best first."""
    sims = np.asarray(query_vectors) @ np.asarray(index_vectors).T
    k = min(k, sims.shape[1])
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(sims, order, axis=1)


def refined_pin(neighbour_latlons, weights, scale_km):
    """The neighbour with the highest expected points under `weights` (placement.Guess)."""
    points = np.asarray(neighbour_latlons, dtype=np.float64).reshape(-1, 2)
    return placement.expected_points_guess(weights, points, [p[None] for p in points], scale_km)
