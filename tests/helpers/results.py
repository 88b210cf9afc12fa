"""Rows in the run directory's CSV schemas, for the tests of the readers and the figures."""


def layer_rows(num_layers=4):
    """``coefficients.csv`` rows of ``num_layers`` CoST layers, one unit each."""
    rows = []
    for layer in range(1, num_layers + 1):
        hw = 0.8 - 0.1 * layer  # spatial importance falls with depth, as in the paper's Fig. 8
        tw = (1 - hw) * 0.4
        for view, mean in (("hw", hw), ("tw", tw), ("th", 1 - hw - tw)):
            rows.append({"layer": layer, "stage": layer + 1, "unit": 0, "view": view, "mean": mean})
    return rows
