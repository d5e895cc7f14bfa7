"""The collapse guard's device-side parts: counting non-finite tensors with a
few fused reductions, and a copy of what an adaptation step can change, taken
and put back without reading anything to the host."""
from collections import defaultdict
from typing import Dict, Iterable, List, Optional

import torch


def _flat_tensors(obj) -> Iterable[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _flat_tensors(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _flat_tensors(v)


def nonfinite_count(tensors, device: Optional[torch.device] = None,
                    exact: bool = True) -> torch.Tensor:
    """How many of the floating tensors in ``tensors`` (a tensor, or nested
    dicts/lists/tuples of them; others ignored) hold a NaN or an infinity.

    One fused reduction per (device, dtype) group, no host read. Returns a
    0-dim float32 tensor on ``device`` (default: the first tensor's, or the
    CPU).

    Args:
        exact: ``True``: the max-abs norm (``torch._foreach_norm`` with
            ``ord=inf``), NaN when a NaN is present, inf when an infinity
            is: the exact count. ``False``: the 2-norm (in float32 for
            lower precisions), which is NaN or inf whenever the max-abs norm
            is and ten times cheaper on the CPU (no fused max-abs kernel
            there), but also inf for a finite tensor whose sum of squares
            overflows: an upper bound of the exact count, equal to it unless
            a tensor holds values beyond about 1e19. The guard decides on
            the bound and confirms a non-zero bound with the exact count.
    """
    groups: Dict[tuple, List[torch.Tensor]] = defaultdict(list)
    for t in _flat_tensors(tensors):
        if t.is_floating_point() and t.numel() > 0:
            groups[(t.device, t.dtype)].append(t.detach())
    if device is None:
        device = next(iter(groups))[0] if groups else torch.device('cpu')
    total = torch.zeros((), dtype=torch.float32, device=device)
    for (_, dtype), group in groups.items():
        if exact:
            norms = torch._foreach_norm(group, float('inf'))
        elif dtype in (torch.float16, torch.bfloat16):
            norms = torch._foreach_norm(group, 2, dtype=torch.float32)
        else:
            norms = torch._foreach_norm(group, 2)
        bad = torch.stack(norms).isfinite().logical_not().sum()
        total = total + bad.to(device=device, dtype=torch.float32)
    return total


class StepSnapshot:
    """A copy of the tensors an adaptation step can change (the adapted
    parameters, the norm buffers) and of the optimizer's state, to roll a
    batch back.

    :meth:`take` copies on the device (``torch._foreach_copy_`` into the
    copies of the previous batch when the shapes are the same, fresh clones
    otherwise) and the optimizer's state tensors by clone: no host read, no
    state-dict walk. :meth:`restore` copies everything back in place and puts
    the optimizer's state and hyper-parameters of the snapshot back.
    """

    def __init__(self):
        self._sources: List[torch.Tensor] = []
        self._copies: Optional[List[torch.Tensor]] = None
        self._key: Optional[list] = None
        self._opt_state: dict = {}
        self._opt_groups: list = []

    @staticmethod
    def _signature(tensors: List[torch.Tensor]) -> list:
        # the copies are storage: any tensors of these shapes will do
        return [(t.shape, t.dtype, t.device) for t in tensors]

    @torch.no_grad()
    def take(self, tensors: List[torch.Tensor], optimizer=None) -> None:
        """Copy ``tensors`` and ``optimizer``'s state (None: no optimizer)."""
        tensors = [t.detach() for t in tensors]
        key = self._signature(tensors)
        if self._copies is not None and key == self._key:
            if tensors:
                torch._foreach_copy_(self._copies, tensors)
        else:
            self._copies = [t.clone() for t in tensors]
            self._key = key
        self._sources = tensors
        self._opt_state, self._opt_groups = {}, []
        if optimizer is None:
            return
        for p, state in optimizer.state.items():
            self._opt_state[p] = {
                k: v.clone() if isinstance(v, torch.Tensor) else v
                for k, v in state.items()
            }
        self._opt_groups = [{k: v for k, v in g.items() if k != 'params'}
                            for g in optimizer.param_groups]

    @torch.no_grad()
    def restore(self, optimizer=None) -> None:
        """Put the copied tensors and optimizer state back."""
        if self._sources:
            torch._foreach_copy_(self._sources, self._copies)
        if optimizer is None:
            return
        optimizer.state.clear()
        # the copies become the optimizer's state: the next take() clones
        # them again
        optimizer.state.update(self._opt_state)
        self._opt_state = {}
        for group, saved in zip(optimizer.param_groups, self._opt_groups):
            group.update(saved)


#: aten operators that hand a tensor's value to the host, or whose output
#: size depends on the values (both wait for the device on an accelerator).
HOST_READ_OPS = ('_local_scalar_dense', 'equal', 'is_nonzero', 'nonzero',
                 'masked_select', 'unique', '_unique', '_unique2',
                 'unique_consecutive', 'unique_dim')
#: Python-level conversions that do not go through an aten operator on
#: the CPU.
HOST_READ_METHODS = ('tolist', 'numpy', '__array__')


class HostSyncCounter:
    """Count the tensor-to-host conversions inside a ``with`` block.

    Every conversion of a tensor to a Python value or to NumPy (``item()``,
    ``bool(t)``, ``float(t)``, ``int(t)``, ``tolist()``, ``numpy()``,
    ``torch.equal``...) and every operator whose output size depends on the
    values (``nonzero``, ``masked_select``, ``unique``) is a device
    synchronisation on an accelerator. They are counted on any device,
    the CPU included, through a ``TorchDispatchMode`` (aten operators, C++
    callers included) and wrappers of the Python methods that bypass aten on
    the CPU (``tolist``, ``numpy``, ``__array__``).

    Reads of torch's own optimizers (``torch/optim``) are counted apart
    (``optimizer_reads``): their step counters are host tensors by default
    (not ``capturable``), so reading them is no device synchronisation.

    Attributes:
        count: Conversions outside ``torch.optim``.
        optimizer_reads: Conversions inside ``torch.optim``.
        where: ``(kind, 'file:line')`` of each counted conversion (the
            nearest caller outside torch), for diagnostics.
    """

    def __init__(self):
        self.count = 0
        self.optimizer_reads = 0
        self.where: List[tuple] = []
        self._mode = None
        self._saved = {}
        self._busy = False

    def _record(self, kind: str) -> None:
        import os
        import sys
        frame = sys._getframe(2)
        torch_dir = os.path.dirname(torch.__file__) + os.sep
        optim_dir = torch_dir + 'optim' + os.sep
        caller, in_optim = None, False
        while frame is not None:
            fname = frame.f_code.co_filename
            if fname.startswith(optim_dir):
                in_optim = True
            if caller is None and not fname.startswith(torch_dir) \
                    and fname != __file__:
                caller = f'{fname}:{frame.f_lineno}'
            frame = frame.f_back
        if in_optim:
            self.optimizer_reads += 1
        else:
            self.count += 1
            self.where.append((kind, caller))

    def __enter__(self) -> 'HostSyncCounter':
        from torch.utils._python_dispatch import TorchDispatchMode
        counter = self

        class _Mode(TorchDispatchMode):

            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                if func.overloadpacket.__name__ in HOST_READ_OPS \
                        and not counter._busy:
                    counter._record(func.overloadpacket.__name__)
                return func(*args, **(kwargs or {}))

        def wrap(name, orig):
            def method(t, *args, **kwargs):
                if counter._busy:
                    return orig(t, *args, **kwargs)
                counter._record(name)
                # an aten read underneath is the same conversion
                counter._busy = True
                try:
                    return orig(t, *args, **kwargs)
                finally:
                    counter._busy = False
            return method

        for name in HOST_READ_METHODS:
            orig = getattr(torch.Tensor, name)
            self._saved[name] = orig
            setattr(torch.Tensor, name, wrap(name, orig))
        self._mode = _Mode()
        self._mode.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._mode.__exit__(*exc)
        for name, orig in self._saved.items():
            setattr(torch.Tensor, name, orig)
        self._saved = {}
