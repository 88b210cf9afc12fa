"""Plain helper functions and constants shared by the tests (fixtures stay in conftest.py).

Import them as ``from tests.helpers.training import compose_cfg``: every test folder is a
package under ``tests``, so pytest's default import mode puts the repository root on
``sys.path`` and no path setting is needed."""
