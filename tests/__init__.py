"""The test suite as a package, so that its modules share helpers one way: ``from
tests.helpers.<module> import ...`` (pytest puts the repository root on ``sys.path``)."""
