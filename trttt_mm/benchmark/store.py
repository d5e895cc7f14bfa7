"""``results.json``: every run record of a work dir, across invocations.

A later invocation (another seed, family or method) adds its records to the
ones earlier invocations left; a record of the same id replaces the old
one. The file is written atomically after every finished unit. A
``results.json`` that cannot be read (cut short, or of another shape) is
never silently replaced: it is kept aside as ``results.json.corrupt-<time>``
and rebuilt from the units' own ``done.json`` files, and the log says so."""
import os
import os.path as osp
import time
from typing import Dict, List, Optional

from trttt_mm.utils.jsonio import read_json

from .units import read_done_file, write_json


def _readable(data) -> bool:
    """Whether ``data`` has the shape of a results.json."""
    return isinstance(data, dict) and isinstance(data.get('runs', []),
                                                 list) and all(
        isinstance(r, dict) and isinstance(r.get('id'), str)
        for r in data.get('runs', []))


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

    def _read(self) -> Optional[dict]:
        """The file's content; None when there is none. A damaged file is
        kept aside and the content rebuilt from the units' done.json."""
        if not osp.exists(self.path):
            return None
        data = read_json(self.path)
        if _readable(data):
            return data
        return self.rebuild()

    def rebuild(self) -> dict:
        """Keep the damaged ``results.json`` aside and rebuild its runs
        from every ``done.json`` under the work dir."""
        stamp = time.strftime('%Y%m%d-%H%M%S')
        kept, n = f'{self.path}.corrupt-{stamp}', 1
        while osp.exists(kept):  # never over an earlier copy
            kept, n = f'{self.path}.corrupt-{stamp}-{n}', n + 1
        os.replace(self.path, kept)
        runs = {}
        for folder, _, files in os.walk(self.work_dir):
            if 'done.json' not in files:
                continue
            done = read_done_file(folder)
            if done is None:
                continue
            rec = dict(done['result'])
            rec.setdefault('key', done['key'])
            if isinstance(done.get('key_data'), dict):
                rec.setdefault('key_data', done['key_data'])
            runs[rec['id']] = rec
        print(f'benchmark: {self.path} could not be read (cut short or not '
              f'a results file): kept as {kept}, and rebuilt from '
              f'{len(runs)} finished units\' done.json files (failed units '
              'and reused selected runs have none: the next run records '
              'them again)', flush=True)
        data = dict(runs=sorted(runs.values(), key=lambda r: r['id']))
        write_json(self.path, data)
        return data

    def earlier(self) -> Dict[str, dict]:
        """The records earlier invocations left in ``results.json``."""
        if self._earlier is None:
            data = self._read() or {}
            self._earlier = {r['id']: r for r in data.get('runs', [])}
        return self._earlier

    def load(self) -> Optional[dict]:
        """Read every record of ``results.json`` into :attr:`results`
        (``--report-only``); the file's content, or None when there is
        none."""
        data = self._read()
        if data is None:
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
