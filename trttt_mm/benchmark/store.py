"""``results.json``: every run record of a work dir, across invocations.

A later invocation (another seed, family or method) adds its records to the
ones earlier invocations left; a record of the same id replaces the old
one. The file is written atomically after every finished unit."""
import os.path as osp
from typing import Dict, List, Optional

from trttt_mm.utils.jsonio import read_json

from .units import write_json


class ResultsStore:
    """The run records of one work dir.

    Args:
        work_dir: the results folder.
    """

    def __init__(self, work_dir: str):
        self.work_dir = work_dir
        self.path = osp.join(work_dir, 'results.json')
        #: records of this invocation (and of ``load``), by id
        self.results: Dict[str, dict] = {}
        self._earlier: Optional[Dict[str, dict]] = None

    def earlier(self) -> Dict[str, dict]:
        """The records earlier invocations left in ``results.json``."""
        if self._earlier is None:
            data = read_json(self.path) or {}
            runs = data.get('runs', []) if isinstance(data, dict) else []
            self._earlier = {r['id']: r for r in runs
                             if isinstance(r, dict) and 'id' in r}
        return self._earlier

    def load(self) -> Optional[dict]:
        """Read every record of ``results.json`` into :attr:`results`
        (``--report-only``); the file's content, or None when there is
        none."""
        data = read_json(self.path)
        if not data:
            return None
        for r in data.get('runs', []):
            self.results[r['id']] = r
        return data

    def record(self, rid: str, result: dict) -> None:
        self.results[rid] = result

    def all_runs(self) -> List[dict]:
        """Earlier records with this invocation's over them, by id."""
        runs = dict(self.earlier())
        runs.update(self.results)
        return sorted(runs.values(), key=lambda r: r['id'])

    def write(self, benchmark: dict, unavailable: dict,
              selection: List[dict]) -> None:
        """Write ``results.json`` (atomically)."""
        write_json(self.path, dict(benchmark=benchmark,
                                   unavailable=unavailable,
                                   selection=selection,
                                   runs=self.all_runs()))
