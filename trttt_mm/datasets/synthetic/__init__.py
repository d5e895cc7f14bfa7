"""Procedural synthetic multi-task benchmark with a controlled domain shift.

Scenes (rooms with furniture of the seven shared classes) are sampled
(:mod:`.sampling`) and ray-cast with numpy (:mod:`.raycast`); the source
domain is written in the Taskonomy layout, the target domain in the NYUD-v2
layout (and optionally a third in the PASCAL_MT layout), byte-for-byte in
the encodings of the real packages. The target domain comes in shift
families (:mod:`.families`: appearance, geometry, content, mixed). Entry
point: :func:`generate_benchmark` (CLI: ``tools/data/make_synthetic.py``).
"""
from .appearance import (PASCAL_STYLE, SOURCE_STYLE, STYLES, TARGET_STYLE,
                         DomainStyle, render_rgb)
from .benchmark import (DEFAULTS, DOMAIN_IDS, LAYOUTS, generate_benchmark,
                        render_view)
from .families import (FAMILIES, FAMILIES_VERSION, FAMILY_NAMES, ShiftFamily,
                       normalise_families)
from .raycast import GeometryMaps, occlusion_edges, render_geometry
from .sampling import (CLASSES, SHARED_CLASSES, SOURCE_SCENE, Scene,
                       SceneParams, sample_scene)
from .writers import (NYU40_IDS, PASCAL_CONTEXT_IDS, TASKONOMY_DEPTH_INVALID,
                      TASKONOMY_DEPTH_SCALE, TASKONOMY_EDGE_VALUE,
                      TASKONOMY_SEG_IDS, VOC_IDS, decode_normals,
                      encode_normals)

__all__ = [
    'generate_benchmark', 'render_view', 'DEFAULTS', 'DOMAIN_IDS', 'LAYOUTS',
    'DomainStyle', 'SOURCE_STYLE', 'TARGET_STYLE', 'PASCAL_STYLE', 'STYLES',
    'render_rgb', 'CLASSES', 'SHARED_CLASSES', 'GeometryMaps', 'Scene',
    'sample_scene', 'render_geometry', 'occlusion_edges', 'TASKONOMY_SEG_IDS',
    'NYU40_IDS', 'VOC_IDS', 'PASCAL_CONTEXT_IDS', 'TASKONOMY_DEPTH_SCALE',
    'TASKONOMY_DEPTH_INVALID', 'TASKONOMY_EDGE_VALUE', 'encode_normals',
    'decode_normals', 'FAMILIES', 'FAMILIES_VERSION', 'FAMILY_NAMES',
    'ShiftFamily', 'normalise_families', 'SceneParams', 'SOURCE_SCENE'
]
