"""facefile's own grouping, called exactly as the product calls it.

Uses ``facefile.cluster.create_clusterer(DEFAULT_CLUSTERER)`` with its
defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class FacefileGrouper:
    """Groups faces with the product's default clusterer."""

    name: str
    """How reports label the column, e.g. ``"facefile (average-linkage)"``."""
    clusterer: str

    def group(
        self,
        embeddings: dict[str, NDArray[np.float32]],
        photo_ids: NDArray[np.int64],
        quality: NDArray[np.float32],
        size_px: NDArray[np.float32],
        previous: NDArray[np.int64] | None = None,
        occlusion: NDArray[np.float32] | None = None,
        on_step: Callable[[str, float], None] | None = None,
        on_neighbours: Callable[..., None] | None = None,
    ) -> NDArray[np.int64]:
        """Labels for faces given their views.

        Args:
            embeddings: view -> ``float32 (n, d)``; ``"full"`` required.
            photo_ids: ``int64 (n,)``.
            quality, size_px: ``float32 (n,)``.
            previous: ``int64 (n,)`` earlier person per face (``-1`` new), for
                incremental runs.
            occlusion: ``float32 (n, 3)`` occlusion scores, or ``None``.
            on_step: hears ``(step, seconds)`` as the clusterer finishes each
                step (``GroupingInput.on_step``).
            on_neighbours: hears the full view's neighbour search
                (``GroupingInput.on_neighbours``).

        Returns:
            ``int64 (n,)`` labels, ``-1`` unassigned.
        """
        full = np.asarray(embeddings["full"], np.float32)
        n = full.shape[0]
        if n == 0:
            return np.zeros(0, np.int64)
        from facefile.cluster import create_clusterer
        from facefile.cluster.base import GroupingInput

        prev = np.full(n, -1, np.int64) if previous is None else previous.astype(np.int64)
        data = GroupingInput(
            face_ids=np.arange(n, dtype=np.int64),
            embeddings=full,
            quality=np.asarray(quality, np.float32),
            size_px=np.asarray(size_px, np.float32),
            photo_ids=np.asarray(photo_ids, np.int64),
            user_person=np.full(n, -1, np.int64),
            previous_person=prev,
            views={k: np.asarray(v, np.float32) for k, v in embeddings.items() if k != "full"},
            occlusion=None if occlusion is None else np.asarray(occlusion, np.float32),
            on_step=on_step,
            on_neighbours=on_neighbours,
        )
        return np.asarray(create_clusterer(self.clusterer).fit_predict(data).labels, np.int64)


def facefile_grouper() -> FacefileGrouper:
    """The product's default clusterer."""
    from facefile.cluster import DEFAULT_CLUSTERER

    return FacefileGrouper(name=f"facefile ({DEFAULT_CLUSTERER})", clusterer=str(DEFAULT_CLUSTERER))
