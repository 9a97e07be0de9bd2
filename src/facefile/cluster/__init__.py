"""Grouping faces into clusters; clusterers register by name like any backend."""

from __future__ import annotations

from facefile.cluster.average_linkage import AverageLinkageClusterer
from facefile.cluster.base import Clusterer, Grouping, GroupingInput
from facefile.registry import Registry

__all__ = [
    "CLUSTERERS",
    "DEFAULT_CLUSTERER",
    "Clusterer",
    "Grouping",
    "GroupingInput",
    "create_clusterer",
]

CLUSTERERS: Registry[Clusterer] = Registry("clusterer", "--clusterer")
CLUSTERERS.register(AverageLinkageClusterer.name, AverageLinkageClusterer)

DEFAULT_CLUSTERER = AverageLinkageClusterer.name


def create_clusterer(name: str = DEFAULT_CLUSTERER, **params: float) -> Clusterer:
    """The clusterer registered as ``name``, with its settings.

    Raises:
        UnknownBackendError: no clusterer has that name.
        ConfigError: (from ``fit_predict``) a setting is unknown or out of range.
    """
    return CLUSTERERS.create(name, **params)
