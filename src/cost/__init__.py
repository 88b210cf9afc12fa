"""CoST: Collaborative Spatiotemporal Feature Learning (Li et al., CVPR 2019)."""

__version__ = "0.1.0"
