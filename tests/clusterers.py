"""Clusterer settings that change the grouping, registered as clusterers tests can name.

``group.clusterer = "test_tight"`` links only near-duplicate faces (almost
every face ends up alone), ``"test_loose"`` links every two faces the
constraints allow. Switching between them and the default is the "change of
model settings" after which the user's decisions must still hold.
"""

from __future__ import annotations

from facefile.cluster import CLUSTERERS
from facefile.cluster.average_linkage import AverageLinkageClusterer

TIGHT = "test_tight"
LOOSE = "test_loose"


def _tight(**_: object) -> AverageLinkageClusterer:
    return AverageLinkageClusterer(threshold=0.05, attach_threshold=0.05, pair_threshold=0.05)


def _loose(**_: object) -> AverageLinkageClusterer:
    return AverageLinkageClusterer(threshold=1.9, attach_threshold=1.9, pair_threshold=1.9, max_rms=1.99)


if TIGHT not in CLUSTERERS.names():
    CLUSTERERS.register(TIGHT, _tight)
    CLUSTERERS.register(LOOSE, _loose)
