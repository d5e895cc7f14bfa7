"""PASCAL-Context classes on which the reference keeps surface normals.

The PASCAL_MT package's ``normals_distill/<id>.png`` normals were distilled
from a model trained on NYUD-v2, so the reference (and we) keep them only on
pixels whose PASCAL-Context ``LabelMap`` class is one of the
170 classes below: the PASCAL-Context (459-class) names that are also
NYUv2 (894-class) names, except "unknown", plus ``tvmonitor``. Every other
pixel's normal becomes the all-zero invalid vector.

The ids are PASCAL-Context ``LabelMap`` ids (1-based; 0 = unlabelled). Fact
list carried over from
``shared/data/pascal_context_normals_valid_classes.json`` (see DESIGN
section 8); the two tuples are index-aligned.
"""
from typing import Dict, Tuple

#: ``LabelMap`` ids of the classes with valid normals (sorted).
PASCAL_CONTEXT_NORMALS_VALID_IDS: Tuple[int, ...] = (
    3, 4, 6, 9, 10, 11, 13, 15, 17, 18, 22, 23, 29, 30, 33, 34, 36, 37, 38,
    39, 41, 43, 46, 49, 50, 51, 53, 55, 56, 59, 61, 62, 65, 66, 68, 69, 72,
    73, 78, 83, 84, 85, 87, 88, 95, 96, 101, 104, 105, 107, 111, 113, 115,
    122, 124, 135, 141, 142, 143, 146, 150, 154, 157, 158, 159, 165, 172,
    174, 181, 183, 184, 191, 193, 195, 197, 199, 202, 213, 215, 216, 219,
    220, 223, 225, 228, 230, 232, 233, 238, 239, 242, 243, 246, 250, 251,
    252, 255, 260, 261, 263, 269, 272, 273, 275, 281, 283, 284, 285, 286,
    287, 288, 290, 291, 292, 293, 295, 304, 307, 309, 310, 314, 315, 319,
    323, 329, 330, 331, 336, 342, 345, 349, 350, 351, 352, 355, 357, 368,
    370, 371, 374, 379, 380, 383, 384, 397, 401, 403, 405, 407, 408, 411,
    412, 413, 414, 417, 419, 421, 423, 427, 429, 430, 432, 440, 441, 442,
    443, 444, 446, 454, 457)

#: Names of :data:`PASCAL_CONTEXT_NORMALS_VALID_IDS`, in the same order.
PASCAL_CONTEXT_NORMALS_VALID_NAMES: Tuple[str, ...] = (
    'air conditioner', 'antenna', 'ashtray', 'bag', 'ball', 'balloon',
    'barrel', 'basket', 'bathtub', 'bed', 'bench', 'bicycle', 'blackboard',
    'board', 'book', 'bottle', 'bowl', 'box', 'bracelet', 'brick', 'broom',
    'bucket', 'cabinet', 'cake', 'calculator', 'calendar', 'camera', 'can',
    'candle', 'car', 'cart', 'case', 'cat', 'cd', 'ceiling', 'cell phone',
    'chair', 'chessboard', 'clock', 'coffee machine', 'comb', 'computer',
    'cone', 'container', 'corkscrew', 'counter', 'crate', 'cup', 'curtain',
    'cutting board', 'dishwasher', 'dog', 'door', 'drum', 'duck', 'envelope',
    'fan', 'faucet', 'fax machine', 'fire extinguisher', 'fish tank', 'flag',
    'flashlight', 'floor', 'flower', 'fork', 'fruit', 'furnace', 'glass',
    'globe', 'glove', 'guitar', 'hammer', 'handle', 'hanger', 'hat', 'heater',
    'ipod', 'ironing board', 'jar', 'key', 'keyboard', 'knife', 'ladder',
    'laptop', 'lid', 'light', 'light bulb', 'lock', 'machine', 'map', 'mask',
    'mattress', 'microphone', 'microwave', 'mirror', 'money', 'mouse',
    'mouse pad', 'napkin', 'oven', 'pan', 'paper', 'paper cutter', 'pen',
    'pencil', 'person', 'photo', 'piano', 'picture', 'pig', 'pillow', 'pipe',
    'pitcher', 'plant', 'plate', 'pool table', 'pot', 'printer', 'projector',
    'radiator', 'radio', 'range hood', 'remote control', 'rope', 'rug',
    'ruler', 'scale', 'sculpture', 'sewing machine', 'shelves', 'shoe',
    'shopping cart', 'shovel', 'sign', 'sink', 'sofa', 'spatula', 'speaker',
    'spoon', 'stapler', 'stick', 'stool', 'stove', 'table', 'tape',
    'telephone', 'tent', 'toaster', 'toilet', 'toothbrush', 'towel', 'toy',
    'toy car', 'trampoline', 'tray', 'tricycle', 'trophy', 'tvmonitor',
    'typewriter', 'umbrella', 'vacuum cleaner', 'wall', 'wallet', 'wardrobe',
    'washing machine', 'watch', 'water dispenser', 'window', 'wire')

#: Named id sets that ``decode_cfg['normal']['valid_ids']`` may refer to.
VALID_ID_SETS: Dict[str, Tuple[int, ...]] = {
    'pascal_context_normals': PASCAL_CONTEXT_NORMALS_VALID_IDS,
}

assert len(PASCAL_CONTEXT_NORMALS_VALID_IDS) == len(
    PASCAL_CONTEXT_NORMALS_VALID_NAMES) == 170
