"""A pytest plugin: a test that cannot find its real data fails with one line naming the file.

Data tests (``@pytest.mark.data``) read files from ``$NYX_DATA_DIR`` (``make test`` points it at
``../shared/data``), the cache or apt packages. When one is missing, the loader raises
:class:`~nyx.benchmarks.datasets.DatasetUnavailableError` whose message says which file to put
where; this plugin shows that message instead of a traceback.
"""

from __future__ import annotations

import pytest

from nyx.benchmarks.datasets.base import DatasetUnavailableError


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    if (report.failed and call.excinfo is not None
            and call.excinfo.errisinstance(DatasetUnavailableError)):
        first = str(call.excinfo.value).splitlines()[0] if str(call.excinfo.value) else ""
        report.longrepr = f"data missing: {first}"
    return report
