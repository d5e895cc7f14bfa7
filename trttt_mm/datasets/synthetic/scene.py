"""Procedural indoor scenes and their geometric ground truth.

The generator works in two steps, each in its own module:

* :mod:`.sampling` draws a scene: room, camera and furniture
  (:func:`sample_scene`; all randomness lives there);
* :mod:`.raycast` renders it: depth, normals, classes, instances and
  occlusion edges (:func:`render_geometry`; deterministic).

This module re-exports both, so ``from .scene import sample_scene,
render_geometry`` keeps working.
"""
from .raycast import (EDGE_DEPTH_JUMP, GeometryMaps, occlusion_edges,
                      ray_directions, render_geometry)
from .sampling import (CLASS_INDEX, CLASSES, DISTRACTOR_CLASSES, ROOM_CLASSES,
                       SHARED_CLASSES, Camera, Primitive, Scene, sample_scene)

__all__ = [
    'CLASSES', 'CLASS_INDEX', 'SHARED_CLASSES', 'ROOM_CLASSES',
    'DISTRACTOR_CLASSES', 'Primitive', 'Camera', 'Scene', 'sample_scene',
    'EDGE_DEPTH_JUMP', 'GeometryMaps', 'occlusion_edges', 'ray_directions',
    'render_geometry'
]
